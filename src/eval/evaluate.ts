/**
 * Validation metrics of a model: the window metric used during training and
 * a per-token evaluation that scores every validation token once.
 */
import { buildWindows, fillBatch, windowOrder, type WindowOptions } from '../data/windows.js';
import type { BatchInput, EvaluationDetail } from '../model/engine.js';

/** Anything that evaluates a batch without dropout: a {@link ModelEngine} wrapper or a data-parallel pool. */
export interface BatchEvaluator {
  /** Scores one batch without dropout. */
  evaluate(batch: BatchInput): Promise<EvaluationDetail> | EvaluationDetail;
}

/** Metrics over a set of scored tokens. Losses are cross-entropies in nats per token. */
export interface Metrics {
  /** Mean cross-entropy per scored token, in nats. */
  loss: number;
  /** e^loss. */
  perplexity: number;
  /** loss / ln 2. */
  bitsPerToken: number;
  /** Share of tokens whose argmax prediction is the target. */
  accuracy: number;
  /** Share of tokens whose target is among the 5 largest logits. */
  top5Accuracy: number;
  /** Number of scored tokens. */
  tokens: number;
  /**
   * Mean loss by window position: entry i is the loss of targets predicted
   * from i + 1 tokens of context.
   */
  lossByPosition: number[];
}

/** Progress callback: batches done and batches in all. */
export type EvalProgress = (done: number, total: number) => void;

/**
 * Scores every target of the windows cut from `sequences`, token-weighted:
 * the training-time validation metric. Overlapping windows score a token
 * once per window that contains it.
 */
export async function evaluateWindows(
  evaluator: BatchEvaluator,
  sequences: ArrayLike<number>[],
  window: Partial<WindowOptions> & { seqLen: number; stride: number },
  batchSize: number,
  onProgress?: EvalProgress,
): Promise<Metrics> {
  const windows = buildWindows(sequences, { ...window, randomOffset: false });
  const order = windowOrder(windows.count);
  const accumulator = new MetricsAccumulator(window.seqLen);
  const total = Math.ceil(windows.count / batchSize);

  for (let b = 0; b < total; b++) {
    const from = b * batchSize;
    const rows = Math.min(batchSize, windows.count - from);
    const batch = fillBatch(sequences, windows, order, from, rows);
    accumulator.add(await evaluator.evaluate(batch), window.seqLen);
    onProgress?.(b + 1, total);
  }
  return accumulator.result();
}

/** A window of the per-token evaluation: targets before `scoreFrom` were scored by an earlier window. */
export interface ScoringWindow {
  /** Index of the sequence the window is cut from. */
  seq: number;
  /** Position in the sequence of the window's first input token. */
  start: number;
  /** First window position whose target this window scores. */
  scoreFrom: number;
  /** Window position after the last scored one; the target of position i is token `start + i + 1`. */
  scoreTo: number;
}

/**
 * Cuts windows so that every token after the first of each sequence is
 * scored exactly once. The first window of a sequence scores its first
 * min(L, n − 1) targets; each later window moves by `stride` and scores only
 * targets no earlier window scored, so every such target sees at least
 * L − stride tokens of context. stride = 1 gives every token the full L
 * tokens (or all of its history when shorter) at L times the cost.
 */
export function perTokenWindows(sequences: ArrayLike<number>[], seqLen: number, stride: number): ScoringWindow[] {
  if (!Number.isInteger(stride) || stride < 1 || stride > seqLen) {
    throw new Error(`The per-token evaluation stride must be an integer in [1, seqLen = ${seqLen}], received ${stride}.`);
  }
  const windows: ScoringWindow[] = [];
  for (let s = 0; s < sequences.length; s++) {
    const lastTarget = sequences[s].length - 1;
    if (lastTarget < 1) continue;
    let scoredUpTo = Math.min(seqLen, lastTarget);
    windows.push({ seq: s, start: 0, scoreFrom: 0, scoreTo: scoredUpTo });
    while (scoredUpTo < lastTarget) {
      const start = Math.min(scoredUpTo + stride - seqLen, lastTarget - seqLen);
      const end = start + seqLen;
      windows.push({ seq: s, start, scoreFrom: scoredUpTo - start, scoreTo: seqLen });
      scoredUpTo = end;
    }
  }
  return windows;
}

/**
 * Scores every validation token after the first of its sequence exactly
 * once (see {@link perTokenWindows}); the metric comparable with the count
 * baselines, which score the same tokens.
 */
export async function evaluatePerToken(
  evaluator: BatchEvaluator,
  sequences: ArrayLike<number>[],
  options: { seqLen: number; stride?: number; batchSize?: number },
  onProgress?: EvalProgress,
): Promise<Metrics> {
  const L = options.seqLen;
  const windows = perTokenWindows(sequences, L, options.stride ?? Math.max(1, Math.floor(L / 2)));
  const batchSize = options.batchSize ?? 64;
  const accumulator = new MetricsAccumulator(L);
  const total = Math.ceil(windows.length / batchSize);

  for (let b = 0; b < total; b++) {
    const part = windows.slice(b * batchSize, (b + 1) * batchSize);
    const batch = fillScoringBatch(sequences, part, L);
    accumulator.add(await evaluator.evaluate(batch), L);
    onProgress?.(b + 1, total);
  }
  return accumulator.result();
}

function fillScoringBatch(sequences: ArrayLike<number>[], windows: ScoringWindow[], L: number): BatchInput {
  const inputs = new Int32Array(windows.length * L);
  const targets = new Int32Array(windows.length * L).fill(-1);
  windows.forEach((w, r) => {
    const seq = sequences[w.seq];
    const available = Math.min(L, seq.length - 1 - w.start);
    for (let i = 0; i < available; i++) inputs[r * L + i] = seq[w.start + i];
    for (let i = w.scoreFrom; i < w.scoreTo; i++) targets[r * L + i] = seq[w.start + i + 1];
  });
  return { inputs, targets, batchSize: windows.length, seqLen: L };
}

/** Sums evaluation results batch by batch. */
export class MetricsAccumulator {
  private lossSum = 0;
  private tokens = 0;
  private correct = 0;
  private top5 = 0;
  private readonly positionLoss: Float64Array;
  private readonly positionCount: Float64Array;

  constructor(seqLen: number) {
    this.positionLoss = new Float64Array(seqLen);
    this.positionCount = new Float64Array(seqLen);
  }

  add(detail: EvaluationDetail, seqLen: number): void {
    this.lossSum += detail.lossSum;
    this.tokens += detail.tokens;
    this.correct += detail.correct;
    this.top5 += detail.top5;
    for (let n = 0; n < detail.losses.length; n++) {
      const loss = detail.losses[n];
      if (loss < 0) continue;
      const position = n % seqLen;
      this.positionLoss[position] += loss;
      this.positionCount[position] += 1;
    }
  }

  result(): Metrics {
    const loss = this.tokens > 0 ? this.lossSum / this.tokens : Number.NaN;
    return {
      loss,
      perplexity: Math.exp(loss),
      bitsPerToken: loss / Math.LN2,
      accuracy: this.tokens > 0 ? this.correct / this.tokens : Number.NaN,
      top5Accuracy: this.tokens > 0 ? this.top5 / this.tokens : Number.NaN,
      tokens: this.tokens,
      lossByPosition: Array.from(this.positionLoss, (sum, i) => (this.positionCount[i] > 0 ? sum / this.positionCount[i] : Number.NaN)),
    };
  }
}
