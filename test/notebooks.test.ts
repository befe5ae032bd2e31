/**
 * Executes the tslab notebooks headless through scripts/notebooks.cjs with a
 * small model on the synthetic sample corpus, then checks the executed
 * notebooks. Needs the compiled library (`npm test` builds it first) and
 * Jupyter: on Debian, apt-get install jupyter-nbconvert jupyter-client
 * python3-ipykernel. Without Jupyter these tests fail with that instruction.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..');
const NOTEBOOK_DIR = path.join(ROOT, 'notebooks');
const TRAINING_NOTEBOOK = '08_next_token_language_model.ipynb';
const SAMPLING_NOTEBOOK = '09_sampling_and_diagnostics.ipynb';
const PLOTLY_MIME_TYPE = 'application/vnd.plotly.v1+json';

// Two epochs of a one-layer model of width 32 keep the run short: this whole file took 22 to 33 s on a
// 2-core machine with the WebAssembly backend.
const SMALL_SETTINGS: Record<string, string> = {
  ACOUSTIC_LM_TOKENS: 'data/synthetic-bat-calls/tokens/k_means',
  ACOUSTIC_LM_TOKEN_TYPE: 'kmeans',
  ACOUSTIC_LM_EPOCHS: '2',
  ACOUSTIC_LM_D_MODEL: '32',
  ACOUSTIC_LM_LAYERS: '1',
  ACOUSTIC_LM_HEADS: '2',
  ACOUSTIC_LM_FF: '64',
  ACOUSTIC_LM_SEQ_LEN: '32',
  ACOUSTIC_LM_STRIDE: '16',
  ACOUSTIC_LM_BATCH_SIZE: '32',
  ACOUSTIC_LM_MAX_NEW: '30',
  ACOUSTIC_LM_PROMPTS: '8',
  ACOUSTIC_LM_WORKERS: '1',
};

interface NotebookOutput {
  output_type: string;
  name?: string;
  text?: string | string[];
  data?: Record<string, unknown>;
  ename?: string;
  evalue?: string;
}

interface NotebookCell {
  cell_type: string;
  id?: string;
  metadata: { tags?: string[]; execution?: unknown };
  source: string | string[];
  outputs?: NotebookOutput[];
  execution_count?: number | null;
}

interface Notebook {
  cells: NotebookCell[];
  metadata: { kernelspec?: { name?: string } };
}

function readNotebook(file: string): Notebook {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as Notebook;
}

function joinText(text: string | string[] | undefined): string {
  return Array.isArray(text) ? text.join('') : (text ?? '');
}

/** Returns the text a cell printed to stdout and stderr. */
function streamText(cell: NotebookCell): string {
  return (cell.outputs ?? [])
    .filter((output) => output.output_type === 'stream')
    .map((output) => joinText(output.text))
    .join('');
}

function cellsTagged(notebook: Notebook, tag: string): NotebookCell[] {
  return notebook.cells.filter((cell) => cell.metadata.tags?.includes(tag));
}

function describeCell(cell: NotebookCell): string {
  return cell.id ?? joinText(cell.source).split('\n')[0];
}

/** Exit status (null after a signal) and interleaved output of a finished command. */
interface CommandResult {
  status: number | null;
  output: string;
}

/**
 * Runs `node scripts/notebooks.cjs ARGS` in its own process group. On timeout
 * the group gets SIGINT, and SIGKILL 10 s later if it is still running.
 * SIGINT lets nbconvert shut its kernel down, which matters because the
 * kernel runs in a session of its own and a signal to the group misses it.
 */
function runNotebookScript(args: string[], env: NodeJS.ProcessEnv, timeoutMs: number): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [path.join(ROOT, 'scripts', 'notebooks.cjs'), ...args], { cwd: ROOT, env, detached: true });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

    const signalGroup = (signal: NodeJS.Signals): void => {
      try {
        process.kill(-child.pid!, signal);
      } catch {
        // The group has already exited.
      }
    };
    let killTimer: NodeJS.Timeout | undefined;
    const interruptTimer = setTimeout(() => {
      output += `\n[timed out after ${timeoutMs / 1000} s; interrupting]`;
      signalGroup('SIGINT');
      killTimer = setTimeout(() => signalGroup('SIGKILL'), 10_000);
    }, timeoutMs);

    child.on('error', reject);
    child.on('close', (status) => {
      clearTimeout(interruptTimer);
      clearTimeout(killTimer);
      resolve({ status, output });
    });
  });
}

describe('committed notebooks', () => {
  const files = fs.readdirSync(NOTEBOOK_DIR).filter((name) => name.endsWith('.ipynb'));

  test('include both notebooks', () => {
    expect(files).toEqual(expect.arrayContaining([TRAINING_NOTEBOOK, SAMPLING_NOTEBOOK]));
  });

  test.each(files)('%s carries no outputs', (file) => {
    const notebook = readNotebook(path.join(NOTEBOOK_DIR, file));
    for (const cell of notebook.cells.filter((candidate) => candidate.cell_type === 'code')) {
      expect({ cell: describeCell(cell), outputs: cell.outputs }).toEqual({ cell: describeCell(cell), outputs: [] });
      expect({ cell: describeCell(cell), executionCount: cell.execution_count }).toEqual({ cell: describeCell(cell), executionCount: null });
      expect({ cell: describeCell(cell), execution: cell.metadata.execution }).toEqual({ cell: describeCell(cell), execution: undefined });
    }
  });

  test.each(files)('%s uses the tslab kernel', (file) => {
    expect(readNotebook(path.join(NOTEBOOK_DIR, file)).metadata.kernelspec?.name).toBe('tslab');
  });

  test('training notebook tags its checked cells', () => {
    const notebook = readNotebook(path.join(NOTEBOOK_DIR, TRAINING_NOTEBOOK));
    expect(cellsTagged(notebook, 'training')).toHaveLength(1);
    expect(cellsTagged(notebook, 'figure').length).toBeGreaterThanOrEqual(5);
  });
});

describe('executed notebooks', () => {
  let workDir = '';
  let outDir = '';
  let runDir = '';

  beforeAll(async () => {
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-notebooks-'));
    outDir = path.join(workDir, 'executed');
    runDir = path.join(workDir, 'run');

    // Settings inherited from the shell would change what the notebooks do, so only the backend choice is kept.
    const env: NodeJS.ProcessEnv = {};
    for (const [name, value] of Object.entries(process.env)) {
      if (!name.startsWith('ACOUSTIC_LM_') || name === 'ACOUSTIC_LM_BACKEND') env[name] = value;
    }
    Object.assign(env, SMALL_SETTINGS, { ACOUSTIC_LM_RUN_DIR: runDir });

    const result = await runNotebookScript(['execute', '--out', outDir], env, 270_000);
    if (result.status !== 0) {
      const lastLines = result.output.trim().split('\n').slice(-40).join('\n');
      throw new Error(
        `node scripts/notebooks.cjs execute failed (exit status ${result.status}); its last output is below. ` +
          `If Jupyter is missing, install it with apt-get install jupyter-nbconvert jupyter-client python3-ipykernel.\n${lastLines}`,
      );
    }
  }, 300_000);

  afterAll(() => {
    if (workDir !== '') fs.rmSync(workDir, { recursive: true, force: true });
  });

  // tslab sends compile and runtime errors as stderr text, not as Jupyter error outputs, so both count.
  test.each([TRAINING_NOTEBOOK, SAMPLING_NOTEBOOK])('%s has no error output', (file) => {
    const notebook = readNotebook(path.join(outDir, file));
    const errors = notebook.cells.flatMap((cell) =>
      (cell.outputs ?? [])
        .filter((output) => output.output_type === 'error' || (output.output_type === 'stream' && output.name === 'stderr'))
        .map((output) => `${describeCell(cell)}: ${output.output_type === 'error' ? `${output.ename}: ${output.evalue}` : joinText(output.text)}`),
    );
    expect(errors).toEqual([]);
  });

  test('training cell prints per-epoch validation metrics', () => {
    const [training] = cellsTagged(readNotebook(path.join(outDir, TRAINING_NOTEBOOK)), 'training');
    const text = streamText(training);
    for (const epoch of [1, 2]) {
      expect(text).toMatch(
        new RegExp(`Epoch ${epoch}/2: train loss \\d+\\.\\d+ \\| val loss \\d+\\.\\d+ \\| val perplexity \\d+\\.\\d+ \\| val accuracy [01]\\.\\d+`),
      );
    }
    expect(text).toMatch(/Kept the weights of epoch [12]/);
  });

  test('training cell prints the final table', () => {
    const [training] = cellsTagged(readNotebook(path.join(outDir, TRAINING_NOTEBOOK)), 'training');
    const text = streamText(training);
    expect(text).toMatch(/Kneser-Ney trigram\s+\d+\.\d+\s+\d+\.\d+\s+0\.\d+/);
    expect(text).toMatch(/model, per token\s+\d+\.\d+\s+\d+\.\d+\s+0\.\d+/);
    expect(text).toMatch(/model, windows \(stride 16\)\s+\d+\.\d+/);
  });

  test('training notebook writes the run folder', () => {
    for (const file of ['run.json', 'config.json', 'split.json', 'history.json', 'metrics.json', 'model.json']) {
      expect({ file, exists: fs.existsSync(path.join(runDir, file)) }).toEqual({ file, exists: true });
    }
  });

  test('sampling notebook prints the diagnostics table', () => {
    const [table] = cellsTagged(readNotebook(path.join(outDir, SAMPLING_NOTEBOOK)), 'diagnostics');
    const text = streamText(table);
    for (const row of ['greedy', 'temperature 0.7', 'top-k 5', 'top-p 0.9', 'repetition penalty 1.3', 'real continuations']) {
      expect(text).toMatch(new RegExp(`^${row}\\s+[01]\\.\\d{3}\\s+[01]\\.\\d{3}\\s+[01]\\.\\d{3}`, 'm'));
    }
  });

  test.each([TRAINING_NOTEBOOK, SAMPLING_NOTEBOOK])('%s figure cells carry plotly output', (file) => {
    const figureCells = cellsTagged(readNotebook(path.join(outDir, file)), 'figure');
    expect(figureCells.length).toBeGreaterThan(0);
    for (const cell of figureCells) {
      const figures = (cell.outputs ?? []).filter((output) => output.data?.[PLOTLY_MIME_TYPE] !== undefined);
      expect({ cell: describeCell(cell), hasPlotlyOutput: figures.length > 0 }).toEqual({ cell: describeCell(cell), hasPlotlyOutput: true });
      for (const output of figures) {
        const figure = output.data![PLOTLY_MIME_TYPE] as { data: unknown[] };
        expect(figure.data.length).toBeGreaterThan(0);
      }
    }
  });
});
