#!/usr/bin/env node
// Runs the tslab notebooks in notebooks/ with Jupyter.
//
//   node scripts/notebooks.cjs register             register the tslab kernel with Jupyter unless it is registered
//   node scripts/notebooks.cjs execute [options]     execute every notebook headless into build/notebooks/
//   node scripts/notebooks.cjs start                 register the kernel, then start Jupyter Notebook on notebooks/
//   node scripts/notebooks.cjs strip [--check]       remove outputs and execution counts from the notebooks
//
// Options of execute:
//   --out DIR     folder for the executed notebooks (default build/notebooks)
//   NAME ...      notebooks to execute, by file name (default: all, in name order)
//
// The notebooks read their settings from ACOUSTIC_LM_* environment variables,
// which pass through to the kernel. Jupyter comes from the system: on Debian
// and Ubuntu, apt-get install jupyter-nbconvert jupyter-client python3-ipykernel
// (and jupyter-notebook for start).
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const NOTEBOOK_DIR = path.join(ROOT, 'notebooks');
const DEFAULT_OUT_DIR = path.join(ROOT, 'build', 'notebooks');
const LIBRARY_ENTRY = path.join(ROOT, 'dist', 'cjs', 'index.js');
const TSLAB_BINARY = path.join(ROOT, 'node_modules', '.bin', 'tslab');
const KERNEL_NAME = 'tslab';

// Maximum seconds that one cell may run before nbconvert stops the notebook. Training at the default size
// can take many minutes on a CPU.
const CELL_TIMEOUT_SECONDS = 1800;

const EXECUTE_PACKAGES = 'jupyter-nbconvert jupyter-client python3-ipykernel';
const START_PACKAGES = `${EXECUTE_PACKAGES} jupyter-notebook`;

// Under Python 3.11, the debugger that Jupyter loads prints a warning about frozen modules on every jupyter
// command. This variable turns the warning off.
const JUPYTER_ENV = { ...process.env, PYDEVD_DISABLE_FILE_VALIDATION: '1' };

/** An error whose message is printed as the script's one-line failure. */
class UsageError extends Error {}

/** Runs `jupyter ARGS` and returns the spawnSync result. Its `error` is set when the jupyter command itself is missing. */
function runJupyter(args, options = {}) {
  return spawnSync('jupyter', args, { cwd: ROOT, env: JUPYTER_ENV, encoding: 'utf8', ...options });
}

/**
 * Throws a UsageError naming the Debian packages to install unless
 * `jupyter SUBCOMMAND --version` runs.
 */
function requireJupyter(subcommand, packages) {
  const result = runJupyter([subcommand, '--version']);
  if (result.error !== undefined || result.status !== 0) {
    const what = result.error !== undefined ? 'Jupyter is not installed' : `the Jupyter command "jupyter ${subcommand}" is not installed`;
    throw new UsageError(`${what}: install the Debian packages with "sudo apt-get install ${packages}" and try again.`);
  }
}

/** Returns the registered kernel specs by name, from `jupyter kernelspec list --json`. */
function listKernels() {
  const result = runJupyter(['kernelspec', 'list', '--json']);
  if (result.error !== undefined || result.status !== 0) {
    throw new UsageError(`"jupyter kernelspec list" failed: install the Debian packages with "sudo apt-get install ${EXECUTE_PACKAGES}" and try again.`);
  }
  return JSON.parse(result.stdout).kernelspecs;
}

/**
 * Registers the tslab kernel with the repository's tslab binary unless a
 * tslab kernel is registered and its binary exists. tslab installs into the
 * system kernel folder when run as root and into the user's otherwise.
 */
function registerKernel() {
  requireJupyter('kernelspec', EXECUTE_PACKAGES);
  const existing = listKernels()[KERNEL_NAME];
  const binary = existing?.spec?.argv?.[0];
  if (binary !== undefined && fs.existsSync(binary)) {
    console.log(`notebooks: the ${KERNEL_NAME} kernel is registered (${binary}).`);
    return;
  }

  if (!fs.existsSync(TSLAB_BINARY)) {
    throw new UsageError(`${TSLAB_BINARY} is missing: run npm install in ${ROOT} first.`);
  }
  const python = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
  const reason = binary === undefined ? 'not registered' : `registered with a missing binary (${binary})`;
  console.log(`notebooks: the ${KERNEL_NAME} kernel is ${reason}; registering ${TSLAB_BINARY}.`);
  const result = spawnSync(TSLAB_BINARY, ['install', `--python=${python}`, `--binary=${TSLAB_BINARY}`], { cwd: ROOT, env: JUPYTER_ENV, stdio: 'inherit' });
  if (result.error !== undefined || result.status !== 0) {
    throw new UsageError(`"tslab install" failed (${result.error?.message ?? `exit status ${result.status}`}); see its output above.`);
  }
}

/** Returns the notebook files to execute: the named ones, or every .ipynb file in notebooks/ in name order. */
function selectNotebooks(names) {
  const all = fs
    .readdirSync(NOTEBOOK_DIR)
    .filter((name) => name.endsWith('.ipynb'))
    .sort();
  if (names.length === 0) return all.map((name) => path.join(NOTEBOOK_DIR, name));
  return names.map((name) => {
    const base = path.basename(name);
    if (!all.includes(base)) {
      throw new UsageError(`Notebook "${name}" not found in ${NOTEBOOK_DIR}; the notebooks are: ${all.join(', ')}.`);
    }
    return path.join(NOTEBOOK_DIR, base);
  });
}

/** Parses the arguments of execute: `--out DIR` and notebook names. */
function parseExecuteArgs(args) {
  let outDir = DEFAULT_OUT_DIR;
  const names = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--out') {
      if (args[i + 1] === undefined) throw new UsageError('--out needs a folder, e.g. --out build/notebooks.');
      outDir = path.resolve(args[i + 1]);
      i++;
    } else if (args[i].startsWith('-')) {
      throw new UsageError(`Unknown option "${args[i]}" for execute; the options are --out DIR and notebook names.`);
    } else {
      names.push(args[i]);
    }
  }
  return { outDir, names };
}

/**
 * Returns the cells of an executed notebook that failed, with their error text.
 * tslab sends a cell's compile and runtime errors as text on stderr rather than
 * as Jupyter error outputs, so any stderr text counts as a failure.
 */
function failedCells(notebook) {
  const failures = [];
  for (const [index, cell] of notebook.cells.entries()) {
    const texts = (cell.outputs ?? []).flatMap((output) => {
      if (output.output_type === 'error') return [`${output.ename}: ${output.evalue}`];
      if (output.output_type === 'stream' && output.name === 'stderr') return [[].concat(output.text).join('')];
      return [];
    });
    if (texts.length > 0) failures.push({ cell: cell.id ?? `#${index}`, text: texts.join('\n') });
  }
  return failures;
}

/** Executes the notebooks one after another, stopping at the first that fails. */
function executeNotebooks(args) {
  const { outDir, names } = parseExecuteArgs(args);
  requireJupyter('nbconvert', EXECUTE_PACKAGES);
  if (!fs.existsSync(LIBRARY_ENTRY)) {
    throw new UsageError(`The compiled library ${LIBRARY_ENTRY} is missing: run npm run build first.`);
  }
  registerKernel();
  fs.mkdirSync(outDir, { recursive: true });

  for (const notebook of selectNotebooks(names)) {
    const name = path.basename(notebook);
    const executed = path.join(outDir, name);
    fs.rmSync(executed, { force: true });
    console.log(`notebooks: executing ${name}`);
    const started = Date.now();

    // With --allow-errors, nbconvert writes the executed notebook even when a cell fails, so the
    // error text can be read from it. nbconvert's own message is empty for tslab errors.
    // tslab 1.0 aborts the requests that arrive within 200 ms of a failed cell, so in practice
    // the cells after it do not run.
    const result = runJupyter(
      [
        'nbconvert',
        '--to',
        'notebook',
        '--execute',
        '--allow-errors',
        `--ExecutePreprocessor.timeout=${CELL_TIMEOUT_SECONDS}`,
        '--output-dir',
        outDir,
        notebook,
      ],
      { stdio: 'inherit' },
    );
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    if (result.error !== undefined || result.status !== 0 || !fs.existsSync(executed)) {
      throw new UsageError(
        `jupyter nbconvert failed on ${name} after ${seconds} s (${result.error?.message ?? `exit status ${result.status}`}); its output is above.`,
      );
    }

    const failures = failedCells(JSON.parse(fs.readFileSync(executed, 'utf8')));
    if (failures.length > 0) {
      const [first] = failures;
      console.error(first.text.trimEnd());
      throw new UsageError(`Cell "${first.cell}" of ${name} failed after ${seconds} s with the error above; the executed notebook is ${executed}.`);
    }
    console.log(`notebooks: executed ${name} in ${seconds} s -> ${executed}`);
  }
}

/** Registers the kernel, then runs Jupyter Notebook on notebooks/ until it exits. */
function startNotebook() {
  requireJupyter('notebook', START_PACKAGES);
  registerKernel();
  if (!fs.existsSync(LIBRARY_ENTRY)) {
    console.warn(`notebooks: ${LIBRARY_ENTRY} is missing, so the notebooks will stop at their first cell; run npm run build.`);
  }
  const result = runJupyter(['notebook', '--notebook-dir', NOTEBOOK_DIR], { stdio: 'inherit' });
  process.exitCode = result.status ?? 1;
}

/** Returns whether a notebook has a code cell with outputs, an execution count or execution timestamps. */
function carriesOutputs(notebook) {
  return notebook.cells.some(
    (cell) => cell.metadata?.execution !== undefined || (cell.cell_type === 'code' && (cell.outputs.length > 0 || cell.execution_count !== null)),
  );
}

/** Returns a copy of a notebook without outputs, execution counts or execution timestamps. */
function strippedNotebook(notebook) {
  const cells = notebook.cells.map((cell) => {
    const metadata = { ...cell.metadata };
    delete metadata.execution;
    if (cell.cell_type !== 'code') return { ...cell, metadata };
    return { ...cell, execution_count: null, metadata, outputs: [] };
  });
  return { ...notebook, cells };
}

/**
 * Strips the outputs of every notebook in notebooks/ that carries any. With
 * `--check`, changes nothing and fails when a notebook carries outputs.
 */
function stripNotebooks(args) {
  const check = args.includes('--check');
  const unknown = args.filter((arg) => arg !== '--check');
  if (unknown.length > 0) throw new UsageError(`Unknown argument "${unknown[0]}" for strip; the only option is --check.`);

  const dirty = [];
  for (const file of selectNotebooks([])) {
    const notebook = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (!carriesOutputs(notebook)) continue;
    dirty.push(path.basename(file));
    // Jupyter writes notebooks as JSON indented by one space, with a final newline.
    if (!check) fs.writeFileSync(file, `${JSON.stringify(strippedNotebook(notebook), null, 1)}\n`);
  }

  if (check && dirty.length > 0) {
    throw new UsageError(`${dirty.join(', ')} ${dirty.length === 1 ? 'carries' : 'carry'} outputs or execution counts: run node scripts/notebooks.cjs strip.`);
  }
  console.log(dirty.length === 0 ? 'notebooks: no notebook carries outputs.' : `notebooks: stripped the outputs of ${dirty.join(', ')}.`);
}

function main() {
  const [command, ...args] = process.argv.slice(2);
  switch (command) {
    case 'register':
      registerKernel();
      break;
    case 'execute':
      executeNotebooks(args);
      break;
    case 'start':
      startNotebook();
      break;
    case 'strip':
      stripNotebooks(args);
      break;
    default:
      throw new UsageError(`Unknown command "${command ?? ''}": use register, execute, start or strip.`);
  }
}

try {
  main();
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`notebooks: ${error.message}`);
  process.exitCode = 1;
}
