/**
 * A whole training run: load tokens, split, train with checkpoints, evaluate
 * beside the count baselines, and write the run folder.
 */
import * as path from 'node:path';

import { selectBackend, type BackendName } from '../backend.js';
import { loadTokens, type TokenCorpus, type TokenType } from '../data/load.js';
import { splitSequences } from '../data/split.js';
import { resolveModelConfig, type ModelConfig } from '../model/config.js';
import { buildParamLayout } from '../model/params.js';
import { loadCheckpoint, saveCheckpoint } from '../run/checkpoint.js';
import { createRunFolder, openRunFolder, type RunFolder } from '../run/runFolder.js';
import { lossCurvesFigure, perplexityAccuracyFigure, positionLossFigure, tokenHistogramFigure } from '../report/figures.js';
import { writeReport } from '../report/html.js';
import type { TrainingHistory } from '../train/history.js';
import { recipeOptions, type RecipeName } from '../train/recipes.js';
import { checkTrainingOptions, trainModel, type TrainingOptions } from '../train/trainer.js';
import { applySplit, evaluateFinal, formatFinalMetrics, loadRunSplit, type FinalMetrics } from './evaluate.js';
import { formatDuration, ProgressBar } from './progress.js';

/** Options of {@link trainRun}. Model and training fields left out take the recipe's defaults. */
export interface TrainRunOptions {
  /** Token folder, `.npy` file or text unit file. */
  tokens: string;
  /** Run folder to create. */
  out: string;
  /** Tokenizer family selecting files in a folder (`kmeans` or `vqvae`). Default: every `.npy` file. */
  type?: TokenType;
  /** Wildcard over file names in the folder. */
  glob?: string;
  /** Vocabulary size; default max id + 1. */
  vocabSize?: number;
  /** Flatten arrays that are not 1-D instead of skipping them. Default false. */
  flatten?: boolean;
  /** Skip invalid files instead of stopping at the first. Default false. */
  skipInvalid?: boolean;
  /** Training recipe. Default `'fast'`. */
  recipe?: RecipeName;
  /** Model size; vocabSize comes from the data and maxSeqLen from the window length. */
  model?: Partial<Omit<ModelConfig, 'vocabSize'>>;
  /** Training options over the recipe's. */
  training?: Partial<TrainingOptions>;
  /** Share of sequences held out for validation. Default 0.1. */
  valFraction?: number;
  /** Seed of the sequence split (a NumPy-compatible shuffle). Default 42. */
  splitSeed?: number;
  /** Stride of the final window metric. Default: 4 for the fast recipe, the validation stride for the seed recipe. */
  evalStride?: number;
  /** Backend; default `ACOUSTIC_LM_BACKEND` or automatic. */
  backend?: BackendName | 'auto';
  /** Replace an existing run in `out`. Default false. */
  overwrite?: boolean;
  /** Also write a standalone HTML report with the figures to this file. */
  report?: string;
  /** Receives progress lines. Default: standard error. */
  log?: (line: string) => void;
  /** Show progress bars on standard error. Default true. */
  progress?: boolean;
  /** Polled after every step; returning true checkpoints and stops. */
  shouldStop?: () => boolean;
}

/** Outcome of a training run. */
export interface RunSummary {
  /** The run folder. */
  runDir: string;
  /** Hyperparameters of the trained model. */
  config: ModelConfig;
  /** Training options after defaults. */
  training: TrainingOptions;
  /** Step and epoch records of the run. */
  history: TrainingHistory;
  /** Absent when the run was interrupted. */
  metrics?: FinalMetrics;
  /** True when `shouldStop` ended training early; the saved checkpoint lets {@link resumeRun} continue. */
  interrupted: boolean;
}

/**
 * Trains a model on a token folder and writes the run folder: run.json,
 * config.json, split.json, the weights in TensorFlow.js format, history
 * (JSON and CSV), metrics.json and a checkpoint that `resumeRun` continues.
 */
export async function trainRun(options: TrainRunOptions): Promise<RunSummary> {
  const log = options.log ?? ((line: string) => console.error(line));
  const backend = await selectBackend({ backend: options.backend, log });

  const corpus = await loadTokens(options.tokens, {
    type: options.type,
    glob: options.glob,
    vocabSize: options.vocabSize,
    flatten: options.flatten,
    skipInvalid: options.skipInvalid,
    log,
  });
  const recipe = options.recipe ?? 'fast';
  const training = recipeOptions(recipe, options.training);
  // Checked before the run folder exists, so that a bad option leaves nothing behind.
  checkTrainingOptions(training);
  const config = resolveModelConfig({ ...options.model, vocabSize: corpus.vocabSize, maxSeqLen: options.model?.maxSeqLen ?? training.window.seqLen });

  const split = splitSequences(corpus.sequences.length, { valFraction: options.valFraction, seed: options.splitSeed });
  const names = corpus.sequences.map((s) => s.name);
  const run = createRunFolder(options.out, { overwrite: options.overwrite });
  run.writeConfig({
    model: config,
    training: { ...training, recipe, seqLen: training.window.seqLen, evalStride: options.evalStride ?? (recipe === 'seed' ? training.valStride : 4) },
    data: {
      tokens: path.resolve(options.tokens),
      type: options.type,
      glob: options.glob,
      vocabSize: corpus.vocabSize,
      flatten: options.flatten ?? false,
      skipInvalid: options.skipInvalid ?? false,
      backend,
    },
  });
  run.writeSplit({
    seed: split.seed,
    valFraction: split.valFraction,
    trainNames: split.trainIndices.map((i) => names[i]),
    valNames: split.valIndices.map((i) => names[i]),
  });
  log(`Split: ${split.trainIndices.length} training and ${split.valIndices.length} validation sequences (seed ${split.seed}).`);

  return continueRun(run, options, log, corpus);
}

/**
 * Continues an interrupted run from its last checkpoint, with the
 * configuration and split stored in the run folder.
 *
 * @throws {RunFolderError} when the folder is not a run or has no checkpoint.
 */
export async function resumeRun(
  runDir: string,
  options: Partial<Pick<TrainRunOptions, 'backend' | 'log' | 'progress' | 'shouldStop' | 'report' | 'tokens'>> = {},
): Promise<RunSummary> {
  const log = options.log ?? ((line: string) => console.error(line));
  await selectBackend({ backend: options.backend, log });
  const run = openRunFolder(runDir);
  return continueRun(run, { ...options, tokens: options.tokens ?? '', out: runDir }, log);
}

async function continueRun(run: RunFolder, options: TrainRunOptions, log: (line: string) => void, loaded?: TokenCorpus): Promise<RunSummary> {
  const stored = run.readConfig();
  const config = stored.model;
  const data = stored.data;
  const training = { ...(stored.training as unknown as TrainingOptions) };
  const tokens = options.tokens !== '' ? options.tokens : String(data.tokens);
  const { train, val } = loaded !== undefined ? applySplit(loaded, run.readSplit(), tokens) : await loadRunSplit(stored, run.readSplit(), tokens, log);
  const layout = buildParamLayout(config);
  const resume = loadCheckpoint(run.dir, layout) ?? undefined;
  if (resume !== undefined) {
    log(`Resuming ${run.dir} after step ${resume.state.globalStep} (epoch ${resume.state.epoch} complete, ${resume.state.stepInEpoch} steps into the next).`);
  }

  const showProgress = options.progress ?? true;
  let bar: ProgressBar | null = null;
  let barEpoch = 0;
  const started = Date.now();
  const result = await trainModel(
    { config, train, val, options: training, resume },
    {
      onStep: (record, progress) => {
        if (!showProgress) return;
        if (bar === null || barEpoch !== record.epoch) {
          bar?.done();
          bar = new ProgressBar(`epoch ${record.epoch}/${training.epochs}`);
          barEpoch = record.epoch;
        }
        bar.update(
          progress.stepInEpoch,
          progress.stepsInEpoch,
          `loss ${record.loss.toFixed(3)} · ${Math.round(progress.tokensPerSecond).toLocaleString('en-US')} tok/s`,
        );
      },
      onEvalProgress: (done, total) => {
        if (!showProgress) return;
        if (done === 1) {
          bar?.done();
          bar = new ProgressBar('validation');
          barEpoch = 0;
        }
        bar?.update(done, total);
        if (done === total) {
          bar?.done();
          bar = null;
        }
      },
      onEpoch: (record) => {
        log(
          `Epoch ${record.epoch}/${training.epochs}: train loss ${record.trainLoss.toFixed(4)} | val loss ${record.valLoss.toFixed(4)} | ` +
            `val perplexity ${record.valPerplexity.toFixed(2)} | val accuracy ${record.valAccuracy.toFixed(4)} | ` +
            `${Math.round(record.tokensPerSecond).toLocaleString('en-US')} tok/s, ${formatDuration(record.seconds)}`,
        );
      },
      onCheckpoint: (checkpoint) => saveCheckpoint(run.dir, layout, checkpoint),
      shouldStop: options.shouldStop,
    },
  );
  (bar as ProgressBar | null)?.done();
  run.writeHistory(result.history);

  if (result.interrupted) {
    log(`Stopped after step ${result.checkpoint.state.globalStep}; the checkpoint is saved. Continue with: acoustic-lm train --resume ${run.dir}`);
    return { runDir: run.dir, config, training, history: result.history, interrupted: true };
  }

  run.writeWeights(layout, result.params);
  log(
    `Kept the weights of epoch ${result.history.bestEpoch} (val loss ${result.history.bestValLoss.toFixed(4)}); training took ${formatDuration((Date.now() - started) / 1000)}.`,
  );
  const evalStride = options.evalStride ?? Number(stored.training.evalStride ?? 4);
  const metrics = await evaluateFinal(config, layout, result.params, train, val, {
    seqLen: training.window.seqLen,
    evalStride,
    progress: showProgress,
    workers: training.workers,
  });
  run.writeMetrics(metricsRecord(metrics, result.history));
  log(formatFinalMetrics(metrics));

  if (options.report !== undefined) {
    writeRunReport(options.report, run.dir, result.history, metrics, train, val, config.vocabSize);
    log(`Report written to ${options.report}`);
  }
  return { runDir: run.dir, config, training, history: result.history, metrics, interrupted: false };
}

/** Builds the JSON record of final metrics that metrics.json stores. */
export function metricsRecord(metrics: FinalMetrics, history: TrainingHistory): Record<string, unknown> {
  return {
    bestEpoch: history.bestEpoch,
    bestValLoss: history.bestValLoss,
    evalStride: metrics.window.stride,
    perTokenStride: metrics.perToken.stride,
    window: metrics.window,
    perToken: metrics.perToken,
    baselines: metrics.baselines,
  };
}

/** Writes the standalone HTML report of a finished run. */
export function writeRunReport(
  file: string,
  runDir: string,
  history: TrainingHistory,
  metrics: FinalMetrics,
  train: ArrayLike<number>[],
  val: ArrayLike<number>[],
  vocabSize: number,
): void {
  writeReport(file, {
    title: `acoustic-lm run ${path.basename(path.resolve(runDir))}`,
    sections: [
      { heading: 'Loss', figure: lossCurvesFigure(history) },
      { heading: 'Validation perplexity and accuracy', figure: perplexityAccuracyFigure(history, metrics.baselines) },
      {
        heading: 'Validation loss by context length',
        figure: positionLossFigure(metrics.window.tokens > 0 ? metrics.window.lossByPosition : metrics.perToken.lossByPosition),
      },
      {
        heading: 'Token frequencies',
        figure: tokenHistogramFigure({ train: train.map((s) => Int32Array.from(s)), val: val.map((s) => Int32Array.from(s)) }, vocabSize),
      },
      { heading: 'Final metrics', text: formatFinalMetrics(metrics) },
    ],
  });
}
