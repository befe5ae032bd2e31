/**
 * Records of a training run, shared by the trainer, the run folder, the
 * figures and the CLI.
 */

/** Metrics of one finished epoch. Losses are cross-entropies in nats per token. */
export interface EpochRecord {
  /** Epoch number, starting at 1. */
  epoch: number;
  /** Token-weighted mean training loss over the epoch's steps. */
  trainLoss: number;
  /** Token-weighted mean validation loss over the validation windows. */
  valLoss: number;
  /** e^valLoss. */
  valPerplexity: number;
  /** Share of validation targets whose argmax prediction is correct. */
  valAccuracy: number;
  /** Wall time of the epoch's training steps, in seconds. */
  seconds: number;
  /** Training tokens processed per second of wall time. */
  tokensPerSecond: number;
}

/** Loss of one optimiser step. */
export interface StepRecord {
  /** Global step number, starting at 1. */
  step: number;
  /** Epoch the step belongs to, starting at 1. */
  epoch: number;
  /** Mean cross-entropy of the step's batch, in nats per token. */
  loss: number;
  /** Learning rate used for the step. */
  lr: number;
}

/** Everything a run records while it trains. */
export interface TrainingHistory {
  /** One record per finished epoch, in order. */
  epochs: EpochRecord[];
  /** One record per optimiser step, in order. */
  steps: StepRecord[];
  /** Epoch whose weights were kept (lowest validation loss), or 0 before the first epoch ends. */
  bestEpoch: number;
  /** Validation loss of the kept weights; Infinity before the first epoch ends. */
  bestValLoss: number;
}

/** Returns an empty history. */
export function emptyHistory(): TrainingHistory {
  return { epochs: [], steps: [], bestEpoch: 0, bestValLoss: Number.POSITIVE_INFINITY };
}
