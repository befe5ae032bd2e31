#!/usr/bin/env node
/**
 * The acoustic-lm command: train, evaluate and generate.
 *
 * Bad input ends with one line on standard error and a non-zero status:
 * 2 for a command-line mistake, 1 for anything else. An interrupted
 * training run exits with 130 (SIGINT) or 143 (SIGTERM) after saving a
 * checkpoint.
 */
import { parseArgs } from 'node:util';

import { BACKEND_ORDER, parseBackendName } from '../backend.js';
import { generateCommand, GENERATE_HELP, GENERATE_OPTIONS } from './generate.js';
import { choiceOption, intOption, numberOption, requiredOption, UsageError } from './options.js';
import { evaluateRun, formatFinalMetrics } from '../pipeline/evaluate.js';
import { resumeRun, trainRun, type TrainRunOptions } from '../pipeline/train.js';
import { RECIPES } from '../train/recipes.js';
import type { TrainingOptions } from '../train/trainer.js';

const MAIN_HELP = `acoustic-lm: next-token Transformer language models over acoustic token sequences

Usage:
  acoustic-lm train --tokens DIR --out DIR [options]    train a model and write a run folder
  acoustic-lm train --resume RUN_DIR                     continue an interrupted run
  acoustic-lm evaluate --run DIR [--tokens DIR]          reload a run and recompute its metrics
  acoustic-lm generate --run DIR ... --out DIR           sample continuations from a run

Run "acoustic-lm COMMAND --help" for the options of a command.`;

const fast = RECIPES.fast;
const seed = RECIPES.seed;

const TRAIN_HELP = `Usage: acoustic-lm train --tokens DIR --out DIR [options]
       acoustic-lm train --resume RUN_DIR

Data
  --tokens PATH          token folder of .npy files, one .npy file, or a text unit file (.txt/.units)
  --type kmeans|vqvae    select files named *w2v_kmeans_* or *vqvae_* in the folder (default: every .npy file)
  --glob PATTERN         select files by a wildcard over names, e.g. "call_*.npy"
  --vocab-size N         number of token ids; ids >= N are an error (default: max id + 1)
  --flatten              flatten arrays that are not 1-D (NumPy C order) instead of skipping them
  --skip-invalid         list invalid files and go on instead of stopping at the first
  --val-fraction F       share of sequences held out for validation (default 0.1, at least 1 sequence)
  --split-seed N         seed of the NumPy-compatible split shuffle (default 42)

Model
  --d-model N            residual width (default 256)
  --heads N              attention heads, must divide --d-model (default 4)
  --layers N             encoder layers (default 4)
  --ff N                 feed-forward width (default 512)
  --dropout P            dropout probability in [0, 1) (default 0.1)

Training
  --recipe fast|seed     fast (default): stride = seq-len with random offsets, warmup + cosine, lr ${fast.lr},
                         ${fast.epochs} epochs; seed: the original PyTorch recipe (stride 4, short sequences dropped,
                         constant lr ${seed.lr}, ${seed.epochs} epochs). Options below override the recipe.
  --seq-len N            window length in tokens (default 64)
  --stride N             distance between window starts in tokens (fast: 64 from a random offset, no tail window; seed: 4)
  --align N              start windows on multiples of N tokens from each recording's start; must divide
                         the stride (fast: ${fast.window.align ?? 1}; seed: 1)
  --batch-size N         windows per step (fast: ${fast.batchSize}; seed: ${seed.batchSize})
  --epochs N             passes over the training windows (fast: ${fast.epochs}; seed: ${seed.epochs})
  --lr X                 peak learning rate (fast: ${fast.lr}; seed: ${seed.lr})
  --warmup N             warmup steps of the cosine schedule (fast: ${fast.warmupSteps})
  --schedule constant|cosine
  --seed N               seed of the weights, batch order and dropout (default 0)
  --workers N            threads computing gradients (default: 2 on the wasm backend with 2+ cores, else 1)
  --checkpoint-every N   also checkpoint every N steps (default: at epoch ends only)
  --eval-stride N        stride of the final window metric (fast: 4; seed: the training stride)
  --max-steps N          stop after N optimiser steps in all (for quick trials)

Output
  --out DIR              run folder to create
  --overwrite            replace an existing run in --out
  --report FILE.html     also write a standalone HTML report with the figures (opens offline)
  --backend NAME         one of auto, ${BACKEND_ORDER.join(', ')} (default: $ACOUSTIC_LM_BACKEND or auto)
  --no-progress          no progress bars
  --resume RUN_DIR       continue RUN_DIR from its last checkpoint with its stored settings`;

const EVALUATE_HELP = `Usage: acoustic-lm evaluate --run DIR [--tokens DIR] [--backend NAME] [--workers N] [--no-progress]

Reloads a run folder and recomputes its validation metrics on the validation
sequences named in its split.json, beside the count baselines.

  --run DIR              run folder written by acoustic-lm train
  --tokens PATH          token folder (default: the one the run was trained on)
  --backend NAME         one of auto, ${BACKEND_ORDER.join(', ')}
  --workers N            threads (default: 2 on the wasm backend with 2+ cores, else 1)
  --no-progress          no progress bars`;

const TRAIN_OPTIONS = {
  tokens: { type: 'string' },
  type: { type: 'string' },
  glob: { type: 'string' },
  'vocab-size': { type: 'string' },
  flatten: { type: 'boolean' },
  'skip-invalid': { type: 'boolean' },
  'val-fraction': { type: 'string' },
  'split-seed': { type: 'string' },
  'd-model': { type: 'string' },
  heads: { type: 'string' },
  layers: { type: 'string' },
  ff: { type: 'string' },
  dropout: { type: 'string' },
  recipe: { type: 'string' },
  'seq-len': { type: 'string' },
  stride: { type: 'string' },
  align: { type: 'string' },
  'batch-size': { type: 'string' },
  epochs: { type: 'string' },
  lr: { type: 'string' },
  warmup: { type: 'string' },
  schedule: { type: 'string' },
  seed: { type: 'string' },
  workers: { type: 'string' },
  'checkpoint-every': { type: 'string' },
  'eval-stride': { type: 'string' },
  'max-steps': { type: 'string' },
  out: { type: 'string' },
  overwrite: { type: 'boolean' },
  report: { type: 'string' },
  backend: { type: 'string' },
  'no-progress': { type: 'boolean' },
  resume: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

const EVALUATE_OPTIONS = {
  run: { type: 'string' },
  tokens: { type: 'string' },
  backend: { type: 'string' },
  workers: { type: 'string' },
  'no-progress': { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Signals that stop training: the first requests a checkpoint and a clean stop, a second one exits at once. */
function stopOnSignals(): { shouldStop: () => boolean; exitCode: () => number | null } {
  let received: NodeJS.Signals | null = null;
  const handler = (signal: NodeJS.Signals): void => {
    if (received !== null) process.exit(signal === 'SIGINT' ? 130 : 143);
    received = signal;
    process.stderr.write(`\nReceived ${signal}: finishing the current step and saving a checkpoint (send it again to exit at once).\n`);
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    shouldStop: () => received !== null,
    exitCode: () => {
      if (received === null) return null;
      return received === 'SIGINT' ? 130 : 143;
    },
  };
}

async function trainCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: TRAIN_OPTIONS, strict: true, allowPositionals: false });
  if (values.help === true) {
    console.log(TRAIN_HELP);
    return 0;
  }
  const backend = parseBackendName(values.backend);
  const signals = stopOnSignals();
  const progress = values['no-progress'] !== true;

  if (values.resume !== undefined) {
    const summary = await resumeRun(values.resume, { backend, progress, shouldStop: signals.shouldStop, report: values.report, tokens: values.tokens });
    return summary.interrupted ? (signals.exitCode() ?? 130) : 0;
  }

  const training: Partial<TrainingOptions> = {};
  const window: Partial<TrainingOptions['window']> = {};
  setIfDefined(window, 'seqLen', intOption('seq-len', values['seq-len'], 1));
  setIfDefined(window, 'stride', intOption('stride', values.stride, 1));
  setIfDefined(window, 'align', intOption('align', values.align, 1));
  if (Object.keys(window).length > 0) training.window = window as TrainingOptions['window'];
  setIfDefined(training, 'batchSize', intOption('batch-size', values['batch-size'], 1));
  setIfDefined(training, 'epochs', intOption('epochs', values.epochs, 1));
  setIfDefined(training, 'lr', numberOption('lr', values.lr, 0, 10, true));
  setIfDefined(training, 'warmupSteps', intOption('warmup', values.warmup, 0));
  setIfDefined(training, 'schedule', choiceOption('schedule', values.schedule, ['constant', 'cosine'] as const));
  setIfDefined(training, 'seed', intOption('seed', values.seed, 0, 0xffffffff));
  setIfDefined(training, 'workers', intOption('workers', values.workers, 1, 64));
  setIfDefined(training, 'checkpointEvery', intOption('checkpoint-every', values['checkpoint-every'], 0));
  setIfDefined(training, 'maxSteps', intOption('max-steps', values['max-steps'], 1));

  const model: NonNullable<TrainRunOptions['model']> = {};
  setIfDefined(model, 'dModel', intOption('d-model', values['d-model'], 1));
  setIfDefined(model, 'nHeads', intOption('heads', values.heads, 1));
  setIfDefined(model, 'nLayers', intOption('layers', values.layers, 1));
  setIfDefined(model, 'dFF', intOption('ff', values.ff, 1));
  setIfDefined(model, 'dropout', numberOption('dropout', values.dropout, 0, 0.999));

  const summary = await trainRun({
    tokens: requiredOption('tokens', values.tokens, 'train'),
    out: requiredOption('out', values.out, 'train'),
    type: choiceOption('type', values.type, ['kmeans', 'vqvae'] as const),
    glob: values.glob,
    vocabSize: intOption('vocab-size', values['vocab-size'], 1),
    flatten: values.flatten,
    skipInvalid: values['skip-invalid'],
    valFraction: numberOption('val-fraction', values['val-fraction'], 0, 1, true),
    splitSeed: intOption('split-seed', values['split-seed'], 0, 0xffffffff),
    recipe: choiceOption('recipe', values.recipe, ['fast', 'seed'] as const),
    model,
    training,
    evalStride: intOption('eval-stride', values['eval-stride'], 1),
    backend,
    overwrite: values.overwrite,
    report: values.report,
    progress,
    shouldStop: signals.shouldStop,
  });
  return summary.interrupted ? (signals.exitCode() ?? 130) : 0;
}

async function evaluateCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: EVALUATE_OPTIONS, strict: true, allowPositionals: false });
  if (values.help === true) {
    console.log(EVALUATE_HELP);
    return 0;
  }
  const metrics = await evaluateRun(requiredOption('run', values.run, 'evaluate'), {
    tokens: values.tokens,
    backend: parseBackendName(values.backend),
    workers: intOption('workers', values.workers, 1, 64),
    progress: values['no-progress'] !== true,
  });
  console.log(formatFinalMetrics(metrics));
  return 0;
}

function setIfDefined<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

/** Runs the command line and returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    console.log(MAIN_HELP);
    return command === undefined ? 2 : 0;
  }
  try {
    if (command === 'train') return await trainCommand(rest);
    if (command === 'evaluate') return await evaluateCommand(rest);
    if (command === 'generate') {
      const { values } = parseArgs({ args: rest, options: GENERATE_OPTIONS, strict: true, allowPositionals: false });
      if (values.help === true) {
        console.log(GENERATE_HELP);
        return 0;
      }
      return await generateCommand(values);
    }
    throw new UsageError(`Unknown command "${command}": use train, evaluate or generate (see acoustic-lm --help).`);
  } catch (error) {
    return reportError(error);
  }
}

/** Prints an error as one line and returns the exit status; set ACOUSTIC_LM_DEBUG=1 for the stack. */
function reportError(error: unknown): number {
  const usage = error instanceof UsageError || (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS'));
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`acoustic-lm: error: ${message.split('\n')[0]}\n`);
  if (process.env.ACOUSTIC_LM_DEBUG === '1' && error instanceof Error) process.stderr.write(`${error.stack ?? ''}\n`);
  return usage ? 2 : 1;
}

if (typeof require !== 'undefined' && require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (error: unknown) => {
      process.exitCode = reportError(error);
    },
  );
}
