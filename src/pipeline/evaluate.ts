/**
 * Final evaluation of trained weights, and reloading of saved runs.
 */
import * as path from 'node:path';

import { selectBackend, type BackendName } from '../backend.js';
import { loadTokens, type TokenCorpus, type TokenType } from '../data/load.js';
import { computeBaselines, formatBaselineTable, type BaselineResult } from '../eval/baselines.js';
import { evaluatePerToken, evaluateWindows, type Metrics } from '../eval/evaluate.js';
import type { ModelConfig } from '../model/config.js';
import { ModelEngine } from '../model/engine.js';
import { buildParamLayout, type ParamLayout } from '../model/params.js';
import { openRunFolder, type RunConfig, type SplitRecord } from '../run/runFolder.js';
import { DataParallel } from '../train/parallel.js';
import type { TrainingHistory } from '../train/history.js';
import { ProgressBar } from './progress.js';

/** Options of the final evaluation. */
export interface FinalEvaluationOptions {
  /** Window length, in tokens. */
  seqLen: number;
  /**
   * Stride of the window metric. Default 4: the original recipe's metric,
   * token-weighted over overlapping windows with sequences of at most
   * seqLen tokens dropped.
   */
  evalStride?: number;
  /** Stride of the per-token evaluation; each token then gets at least seqLen − stride tokens of context. Default seqLen/2. */
  perTokenStride?: number;
  /** Windows per batch. Default 64. */
  batchSize?: number;
  /** Gradient threads to evaluate with. Default as in training. */
  workers?: number;
  /** Show progress bars on standard error. Default true. */
  progress?: boolean;
}

/** Metrics of a model on the validation split, beside the count baselines. */
export interface FinalMetrics {
  /** The original recipe's window metric. */
  window: Metrics & {
    /** Window stride in tokens. */
    stride: number;
  };
  /** Every validation token after the first of its sequence, scored once. */
  perToken: Metrics & {
    /** Stride of the per-token windows in tokens. */
    stride: number;
  };
  /** Count baselines on the same split and the same tokens as `perToken`. */
  baselines: BaselineResult;
}

/**
 * Evaluates weights on validation sequences with both metrics and computes
 * the count baselines from the training sequences.
 */
export async function evaluateFinal(
  config: ModelConfig,
  layout: ParamLayout,
  params: Float32Array,
  train: ArrayLike<number>[],
  val: ArrayLike<number>[],
  options: FinalEvaluationOptions,
): Promise<FinalMetrics> {
  const evalStride = options.evalStride ?? 4;
  const perTokenStride = options.perTokenStride ?? Math.max(1, Math.floor(options.seqLen / 2));
  const batchSize = options.batchSize ?? 64;
  const showProgress = options.progress ?? true;
  const pool = await DataParallel.create(config, layout, params, { workers: options.workers });

  try {
    const windowBar = showProgress ? new ProgressBar('evaluate windows ') : null;
    const window = await evaluateWindows(pool, val, { seqLen: options.seqLen, stride: evalStride, mode: 'drop-short' }, batchSize, (done, total) =>
      windowBar?.update(done, total),
    ).catch((error: unknown) => {
      // Validation sequences may all be shorter than a window; the per-token metric still covers them.
      if (error instanceof Error && error.message.startsWith('No training windows')) return null;
      throw error;
    });
    windowBar?.done();

    const tokenBar = showProgress ? new ProgressBar('evaluate tokens  ') : null;
    const perToken = await evaluatePerToken(pool, val, { seqLen: options.seqLen, stride: perTokenStride, batchSize }, (done, total) =>
      tokenBar?.update(done, total),
    );
    tokenBar?.done();

    const baselines = computeBaselines(train, val, config.vocabSize);
    const emptyWindow: Metrics = { loss: NaN, perplexity: NaN, bitsPerToken: NaN, accuracy: NaN, top5Accuracy: NaN, tokens: 0, lossByPosition: [] };
    return { window: { ...(window ?? emptyWindow), stride: evalStride }, perToken: { ...perToken, stride: perTokenStride }, baselines };
  } finally {
    await pool.close();
  }
}

/** Formats final metrics as a table of the model beside the count baselines. */
export function formatFinalMetrics(metrics: FinalMetrics): string {
  const rows = [
    { name: `model, per token`, crossEntropy: metrics.perToken.loss, accuracy: metrics.perToken.accuracy },
    { name: `model, windows (stride ${metrics.window.stride})`, crossEntropy: metrics.window.loss, accuracy: metrics.window.accuracy },
  ];
  const details =
    `per token: ${metrics.perToken.loss.toFixed(4)} nats (${metrics.perToken.bitsPerToken.toFixed(3)} bits), ` +
    `perplexity ${metrics.perToken.perplexity.toFixed(2)}, accuracy ${metrics.perToken.accuracy.toFixed(4)}, top-5 ${metrics.perToken.top5Accuracy.toFixed(4)} ` +
    `over ${metrics.perToken.tokens.toLocaleString('en-US')} tokens`;
  return `${formatBaselineTable(metrics.baselines, rows)}\n${details}`;
}

/** A saved run, reloaded. */
export interface LoadedRun {
  /** Run folder, as passed to {@link loadRun}. */
  dir: string;
  /** Contents of `config.json`. */
  config: RunConfig;
  /** Parameter layout of `config.model`. */
  layout: ParamLayout;
  /** Saved weights in the flat layout. */
  params: Float32Array;
  /** Contents of `split.json`: the names of the training and validation sequences. */
  split: SplitRecord;
  /** Contents of `history.json`. */
  history: TrainingHistory;
  /** Contents of `metrics.json`. */
  metrics: Record<string, unknown>;
}

/**
 * Reads a run folder's configuration, weights, split, history and metrics.
 *
 * @throws {RunFolderError} naming the folder or file that is missing, corrupt or of an unknown format version.
 */
export function loadRun(dir: string): LoadedRun {
  const run = openRunFolder(dir);
  const config = run.readConfig();
  const layout = buildParamLayout(config.model);
  return {
    dir,
    config,
    layout,
    params: run.readWeights(layout),
    split: run.readSplit(),
    history: run.readHistory(),
    metrics: run.readMetrics(),
  };
}

/** Returns an engine with a loaded run's weights on the active backend; dispose it when done. */
export function runEngine(run: LoadedRun): ModelEngine {
  const engine = new ModelEngine(run.config.model, run.layout);
  engine.setWeights(run.params);
  return engine;
}

/** Options of {@link evaluateRun}. */
export interface EvaluateRunOptions {
  /** Token folder or file; default the one the run was trained on. */
  tokens?: string;
  /** Backend to evaluate on, as in {@link BackendOptions.backend}. */
  backend?: BackendName | 'auto';
  /** Threads that evaluate batches, counting the main thread. Default: {@link defaultWorkerCount}. */
  workers?: number;
  /** Show progress bars on standard error. Default true. */
  progress?: boolean;
  /** Receives each log line. Default: `console.error`. */
  log?: (line: string) => void;
}

/**
 * Reloads a run and evaluates it on its validation split, reproducing the
 * metrics it recorded when training ended.
 *
 * @throws {Error} when the token folder lacks a validation sequence the run
 *   names, or contains ids outside the model's vocabulary.
 */
export async function evaluateRun(dir: string, options: EvaluateRunOptions = {}): Promise<FinalMetrics> {
  const log = options.log ?? ((line: string) => console.error(line));
  await selectBackend({ backend: options.backend, log });
  const run = loadRun(dir);
  const { train, val } = await loadRunSplit(run.config, run.split, options.tokens, log);
  const seqLen = Number(run.config.training.seqLen ?? run.config.model.maxSeqLen);
  return evaluateFinal(run.config.model, run.layout, run.params, train, val, {
    seqLen,
    evalStride: Number(run.metrics.evalStride ?? 4),
    perTokenStride: Number(run.metrics.perTokenStride ?? Math.floor(seqLen / 2)),
    workers: options.workers,
    progress: options.progress,
  });
}

/**
 * Loads a run's token source with the loader options stored in its
 * config.json and returns its training and validation sequences by the
 * names its split recorded.
 *
 * @param tokens - token folder or file; default the one the run was trained on.
 * @throws {Error} when the source cannot be loaded, holds ids outside the
 *   model's vocabulary, or lacks a sequence the split names.
 */
export async function loadRunSplit(
  config: RunConfig,
  split: SplitRecord,
  tokens: string | undefined,
  log?: (line: string) => void,
): Promise<{ train: Int32Array[]; val: Int32Array[] }> {
  const data = config.data;
  const source = tokens ?? String(data.tokens);
  const corpus = await loadTokens(source, {
    type: data.type as TokenType | undefined,
    glob: data.glob as string | undefined,
    vocabSize: config.model.vocabSize,
    flatten: data.flatten as boolean | undefined,
    skipInvalid: data.skipInvalid as boolean | undefined,
    log,
  });
  return applySplit(corpus, split, source);
}

/**
 * Selects a corpus's sequences by the names a split recorded.
 *
 * @throws {Error} naming the first recorded sequence the corpus lacks.
 */
export function applySplit(
  corpus: TokenCorpus,
  split: SplitRecord,
  source: string,
): {
  /** Training sequences in the recorded order. */
  train: Int32Array[];
  /** Validation sequences in the recorded order. */
  val: Int32Array[];
} {
  const byName = new Map(corpus.sequences.map((s) => [s.name, s.ids]));
  const pick = (names: string[], side: string): Int32Array[] =>
    names.map((name) => {
      const ids = byName.get(name);
      if (ids === undefined) {
        throw new Error(
          `The ${side} sequence "${name}" recorded in the run's split.json is not in ${path.resolve(source)}; pass the token folder the run was trained on.`,
        );
      }
      return ids;
    });
  return { train: pick(split.trainNames, 'training'), val: pick(split.valNames, 'validation') };
}
