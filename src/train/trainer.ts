/**
 * The training loop: AdamW on next-token cross-entropy, with per-epoch
 * validation, best-weights selection, checkpoints and exact resume.
 */
import { buildWindows, fillBatch, windowOrder, type WindowOptions } from '../data/windows.js';
import { evaluateWindows, type Metrics } from '../eval/evaluate.js';
import type { ModelConfig } from '../model/config.js';
import { initParams, buildParamLayout, type ParamLayout } from '../model/params.js';
import { Rng } from '../random.js';
import type { Checkpoint, TrainingState } from '../run/checkpoint.js';
import { AdamW, clipGradNorm } from './adamw.js';
import { emptyHistory, type EpochRecord, type StepRecord, type TrainingHistory } from './history.js';
import { DataParallel } from './parallel.js';
import { learningRate, type ScheduleOptions } from './schedule.js';

/** Everything that shapes a training run besides the model's size. */
export interface TrainingOptions {
  /** Passes over the training windows. Default 5. */
  epochs: number;
  /** Windows per optimiser step; the last partial batch of an epoch is dropped. Default 64. */
  batchSize: number;
  /** Peak learning rate. Default 3e-4. */
  lr: number;
  /** AdamW β1. Default 0.9. */
  beta1: number;
  /** AdamW β2. Default 0.999. */
  beta2: number;
  /** AdamW ε. Default 1e-8. */
  eps: number;
  /** Decoupled weight decay. Default 0.01 (PyTorch's AdamW default). */
  weightDecay: number;
  /** Global gradient-norm limit. Default 1.0. */
  clipNorm: number;
  /** Seed of the initial weights, window order, window offsets and dropout. Default 0. */
  seed: number;
  /** Learning-rate schedule kind. Default `'constant'`. */
  schedule: ScheduleOptions['kind'];
  /** Linear warmup steps of the cosine schedule. Default 0. */
  warmupSteps: number;
  /** Final learning rate of the cosine schedule as a share of the peak. Default 0.1. */
  minLrRatio: number;
  /** Window settings of the training sequences. Default: seqLen 64, stride 4, pad mode, no random offset. */
  window: WindowOptions;
  /** Stride of the validation windows scored after each epoch. Default 4. */
  valStride: number;
  /** Gradient threads, counting the main thread. Default: 2 on wasm with 2+ cores, else 1. */
  workers?: number;
  /** Also checkpoint every this many steps; 0 checkpoints at epoch ends only. Default 0. */
  checkpointEvery: number;
  /** Windows per validation batch. Default 64. */
  evalBatchSize: number;
  /** Ends training after this many optimiser steps in all, for quick trials. Default: no limit. */
  maxSteps?: number;
}

/** The original PyTorch recipe: constant lr 3e-4, stride 4, 5 epochs. */
export const DEFAULT_TRAINING_OPTIONS: TrainingOptions = {
  epochs: 5,
  batchSize: 64,
  lr: 3e-4,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0.01,
  clipNorm: 1.0,
  seed: 0,
  schedule: 'constant',
  warmupSteps: 0,
  minLrRatio: 0.1,
  window: { seqLen: 64, stride: 4, mode: 'pad', randomOffset: false },
  valStride: 4,
  checkpointEvery: 0,
  evalBatchSize: 64,
};

/** Hooks through which a caller observes and controls a running training loop. */
export interface TrainerCallbacks {
  /** Called after every optimiser step. */
  onStep?: (record: StepRecord, progress: StepProgress) => void;
  /** Called after every validation pass. */
  onEpoch?: (record: EpochRecord, metrics: Metrics) => void;
  /** Receives each checkpoint; must persist it synchronously. */
  onCheckpoint?: (checkpoint: Checkpoint) => void;
  /** Polled after every step; returning true checkpoints and stops. */
  shouldStop?: () => boolean;
  /** Progress of a validation pass, in batches. */
  onEvalProgress?: (done: number, total: number) => void;
}

/** Position of a step in its epoch, for progress displays. */
export interface StepProgress {
  /** Steps done in the current epoch, this one included. */
  stepInEpoch: number;
  /** Steps in the whole epoch. */
  stepsInEpoch: number;
  /** Training tokens per second over the epoch so far. */
  tokensPerSecond: number;
}

/** Inputs of {@link trainModel}. */
export interface TrainInput {
  /** Hyperparameters of the model to train. */
  config: ModelConfig;
  /** Training sequences. */
  train: ArrayLike<number>[];
  /** Validation sequences; their loss selects the kept weights. */
  val: ArrayLike<number>[];
  /** Training options; missing fields take {@link DEFAULT_TRAINING_OPTIONS}. */
  options?: Partial<TrainingOptions>;
  /** A checkpoint to continue from; the options must be the ones it was trained with. */
  resume?: Checkpoint;
}

/** Outcome of {@link trainModel}. */
export interface TrainResult {
  /** Layout of `params`. */
  layout: ParamLayout;
  /** The kept weights: the best by validation loss, or the latest before the first validation. */
  params: Float32Array;
  /** Step and epoch records of the whole run. */
  history: TrainingHistory;
  /** True when `shouldStop` ended training early. */
  interrupted: boolean;
  /** The last checkpoint taken. */
  checkpoint: Checkpoint;
}

/** A non-finite loss or gradient norm, naming the step and batch. */
export class NonFiniteError extends Error {
  constructor(
    /** Global optimiser step, from 1. */
    readonly step: number,
    /** Epoch, from 1. */
    readonly epoch: number,
    /** Index of the batch within its epoch, from 0. */
    readonly batchIndex: number,
    what: string,
  ) {
    super(
      `Training stopped: non-finite ${what} at step ${step} (epoch ${epoch}, batch ${batchIndex}); lower the learning rate or check the data. The last checkpoint is kept.`,
    );
    this.name = 'NonFiniteError';
  }
}

/** Merges partial options over the defaults, window options included. */
export function resolveTrainingOptions(options: Partial<TrainingOptions> = {}): TrainingOptions {
  const resolved = { ...DEFAULT_TRAINING_OPTIONS, ...options, window: { ...DEFAULT_TRAINING_OPTIONS.window, ...options.window } };
  checkTrainingOptions(resolved);
  return resolved;
}

/**
 * Checks every training option.
 *
 * @throws {Error} naming the first invalid option, its value and what is allowed.
 */
export function checkTrainingOptions(o: TrainingOptions): void {
  const positiveInteger = (name: string, value: number): void => {
    if (!Number.isInteger(value) || value < 1) throw new Error(`Invalid training option: ${name} must be a positive integer, received ${value}.`);
  };
  const positive = (name: string, value: number): void => {
    if (!(Number.isFinite(value) && value > 0)) throw new Error(`Invalid training option: ${name} must be a positive number, received ${value}.`);
  };
  positiveInteger('epochs', o.epochs);
  positiveInteger('batchSize', o.batchSize);
  positiveInteger('window.seqLen', o.window.seqLen);
  positiveInteger('window.stride', o.window.stride);
  positiveInteger('valStride', o.valStride);
  const align = o.window.align ?? 1;
  positiveInteger('window.align', align);
  if (o.window.stride % align !== 0 || o.valStride % align !== 0) {
    throw new Error(
      `Invalid training option: window.align ${align} must divide the stride (${o.window.stride}) and valStride (${o.valStride}); choose an align that divides both.`,
    );
  }
  positiveInteger('evalBatchSize', o.evalBatchSize);
  positive('lr', o.lr);
  positive('eps', o.eps);
  positive('clipNorm', o.clipNorm);
  if (!(o.beta1 >= 0 && o.beta1 < 1)) throw new Error(`Invalid training option: beta1 must be in [0, 1), received ${o.beta1}.`);
  if (!(o.beta2 >= 0 && o.beta2 < 1)) throw new Error(`Invalid training option: beta2 must be in [0, 1), received ${o.beta2}.`);
  if (!(o.weightDecay >= 0)) throw new Error(`Invalid training option: weightDecay must be at least 0, received ${o.weightDecay}.`);
  if (!Number.isInteger(o.warmupSteps) || o.warmupSteps < 0)
    throw new Error(`Invalid training option: warmupSteps must be an integer of at least 0, received ${o.warmupSteps}.`);
  if (!(o.minLrRatio >= 0 && o.minLrRatio <= 1)) throw new Error(`Invalid training option: minLrRatio must be in [0, 1], received ${o.minLrRatio}.`);
  if (o.schedule !== 'constant' && o.schedule !== 'cosine')
    throw new Error(`Invalid training option: schedule must be constant or cosine, received ${String(o.schedule)}.`);
  if (o.window.mode !== 'pad' && o.window.mode !== 'drop-short')
    throw new Error(`Invalid training option: window mode must be pad or drop-short, received ${String(o.window.mode)}.`);
  if (!Number.isInteger(o.checkpointEvery) || o.checkpointEvery < 0)
    throw new Error(`Invalid training option: checkpointEvery must be an integer of at least 0, received ${o.checkpointEvery}.`);
}

/** Seed of an epoch's window offsets and order, derived so that any epoch can be rebuilt on resume. */
function epochSeed(seed: number, epoch: number): number {
  return (Math.imul(seed ^ 0x5bd1e995, 0x01000193) ^ Math.imul(epoch, 0x9e3779b1)) >>> 0;
}

/** Seed of a step's dropout masks. */
function dropoutSeed(seed: number, step: number): number {
  return (Math.imul(seed ^ 0x27d4eb2d, 0x85ebca6b) ^ Math.imul(step, 0xc2b2ae35)) >>> 0;
}

/**
 * Trains a model and returns its best weights and history.
 *
 * Each epoch draws its window offsets and order from a generator seeded by
 * (seed, epoch), and each step's dropout from (seed, step), so a run resumed
 * from a checkpoint replays exactly the steps an uninterrupted run takes.
 *
 * @throws {NonFiniteError} when a loss or gradient norm is not finite.
 */
export async function trainModel(input: TrainInput, callbacks: TrainerCallbacks = {}): Promise<TrainResult> {
  const options = resolveTrainingOptions(input.options);
  const { config } = input;
  const layout = buildParamLayout(config);
  if (options.window.seqLen > config.maxSeqLen) {
    throw new Error(`Invalid training option: window.seqLen ${options.window.seqLen} exceeds the model's maxSeqLen ${config.maxSeqLen}.`);
  }

  const initial = input.resume?.params ?? initParams(config, options.seed).values;
  const pool = await DataParallel.create(config, layout, initial, { workers: options.workers });
  const params = pool.params;
  const adam = new AdamW(layout.size, { lr: options.lr, beta1: options.beta1, beta2: options.beta2, eps: options.eps, weightDecay: options.weightDecay });

  const state: TrainingState = input.resume?.state ?? {
    epoch: 0,
    stepInEpoch: 0,
    globalStep: 0,
    rngState: new Rng(options.seed).getState(),
    extra: { epochTokens: 0, epochLossSum: 0, epochSeconds: 0 },
    history: emptyHistory(),
    bestValLoss: Number.POSITIVE_INFINITY,
    bestEpoch: 0,
    adamStep: 0,
  };
  let bestParams: Float32Array | null = input.resume?.bestParams ?? null;
  if (input.resume !== undefined) {
    adam.m.set(input.resume.adamM);
    adam.v.set(input.resume.adamV);
    adam.step = input.resume.state.adamStep;
  }

  const fixedTrainWindows = buildWindows(input.train, { ...options.window, randomOffset: false });
  const schedule: ScheduleOptions = {
    kind: options.schedule,
    lr: options.lr,
    warmupSteps: options.warmupSteps,
    totalSteps: options.epochs * Math.floor(fixedTrainWindows.count / options.batchSize),
    minLrRatio: options.minLrRatio,
  };

  const snapshot = (): Checkpoint => ({
    state: { ...state, adamStep: adam.step, history: structuredClone(state.history) },
    params: params.slice(),
    adamM: adam.m.slice(),
    adamV: adam.v.slice(),
    bestParams: bestParams?.slice() ?? null,
  });

  let interrupted = false;
  try {
    while (state.epoch < options.epochs && !interrupted) {
      const epoch = state.epoch + 1;
      const rng = new Rng(epochSeed(options.seed, epoch));
      const windows = options.window.randomOffset ? buildWindows(input.train, options.window, rng) : fixedTrainWindows;
      const order = windowOrder(windows.count, rng);
      const stepsInEpoch = Math.floor(windows.count / options.batchSize);
      if (stepsInEpoch === 0) {
        throw new Error(`The training set has ${windows.count} windows, fewer than one batch of ${options.batchSize}; lower batchSize or use more data.`);
      }
      const extra = state.extra as { epochTokens: number; epochLossSum: number; epochSeconds: number };

      while (state.stepInEpoch < stepsInEpoch) {
        if (options.maxSteps !== undefined && state.globalStep >= options.maxSteps) break;
        const started = performance.now();
        const batchIndex = state.stepInEpoch;
        const batch = fillBatch(input.train, windows, order, batchIndex * options.batchSize, options.batchSize);
        const step = state.globalStep + 1;

        const result = await pool.gradients(batch, dropoutSeed(options.seed, step));
        if (!Number.isFinite(result.lossSum)) throw new NonFiniteError(step, epoch, batchIndex, 'loss');
        if (result.tokens === 0) throw new Error(`Batch ${batchIndex} of epoch ${epoch} has no scored targets.`);

        // The loss is the mean over the batch's scored targets, as in PyTorch's CrossEntropyLoss.
        const grads = result.grads;
        const scale = 1 / result.tokens;
        for (let i = 0; i < grads.length; i++) grads[i] *= scale;
        const norm = clipGradNorm(grads, options.clipNorm);
        if (!Number.isFinite(norm)) throw new NonFiniteError(step, epoch, batchIndex, 'gradient norm');

        const lr = learningRate(schedule, step);
        adam.update(params, grads, lr);
        pool.weightsChanged();

        state.globalStep = step;
        state.stepInEpoch += 1;
        extra.epochTokens += result.tokens;
        extra.epochLossSum += result.lossSum;
        extra.epochSeconds += (performance.now() - started) / 1000;
        const record: StepRecord = { step, epoch, loss: result.lossSum / result.tokens, lr };
        state.history.steps.push(record);
        callbacks.onStep?.(record, { stepInEpoch: state.stepInEpoch, stepsInEpoch, tokensPerSecond: extra.epochTokens / Math.max(1e-9, extra.epochSeconds) });

        // Yield to the event loop so that signal handlers and worker messages run between steps.
        await new Promise((resolve) => setImmediate(resolve));
        if (callbacks.shouldStop?.() === true) {
          interrupted = true;
          break;
        }
        if (options.checkpointEvery > 0 && step % options.checkpointEvery === 0 && state.stepInEpoch < stepsInEpoch) {
          callbacks.onCheckpoint?.(snapshot());
        }
      }
      if (interrupted || (options.maxSteps !== undefined && state.globalStep >= options.maxSteps && state.stepInEpoch < stepsInEpoch)) {
        break;
      }

      const metrics = await evaluateWindows(pool, input.val, { ...options.window, stride: options.valStride }, options.evalBatchSize, callbacks.onEvalProgress);
      const record: EpochRecord = {
        epoch,
        trainLoss: extra.epochLossSum / extra.epochTokens,
        valLoss: metrics.loss,
        valPerplexity: metrics.perplexity,
        valAccuracy: metrics.accuracy,
        seconds: extra.epochSeconds,
        tokensPerSecond: extra.epochTokens / Math.max(1e-9, extra.epochSeconds),
      };
      state.history.epochs.push(record);
      if (metrics.loss < state.bestValLoss) {
        state.bestValLoss = metrics.loss;
        state.bestEpoch = epoch;
        bestParams = params.slice();
      }
      state.history.bestEpoch = state.bestEpoch;
      state.history.bestValLoss = state.bestValLoss;
      state.epoch = epoch;
      state.stepInEpoch = 0;
      state.extra = { epochTokens: 0, epochLossSum: 0, epochSeconds: 0 };
      callbacks.onEpoch?.(record, metrics);
      callbacks.onCheckpoint?.(snapshot());
      if (options.maxSteps !== undefined && state.globalStep >= options.maxSteps) break;
    }

    const checkpoint = snapshot();
    if (interrupted) callbacks.onCheckpoint?.(checkpoint);
    return { layout, params: bestParams ?? params.slice(), history: structuredClone(state.history), interrupted, checkpoint };
  } finally {
    await pool.close();
  }
}
