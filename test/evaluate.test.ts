import { evaluatePerToken, evaluateWindows, MetricsAccumulator, perTokenWindows } from '../src/eval/evaluate';
import type { BatchInput, EvaluationDetail } from '../src/model/engine';
import { scoreEvaluation, scoreLogits } from '../src/model/engine';

describe('scoring logits', () => {
  test('cross-entropy, accuracy and top-5 by hand', () => {
    // Row 0: logits [0, ln 3] → p = [1/4, 3/4]; target 1 → loss ln(4/3), correct.
    // Row 1: same logits, target 0 → loss ln 4, wrong. Row 2: padding.
    const logits = Float32Array.from([0, Math.log(3), 0, Math.log(3), 5, 5]);
    const detail = scoreEvaluation(logits, Int32Array.from([1, 0, -1]), 2);
    expect(detail.tokens).toBe(2);
    expect(detail.correct).toBe(1);
    expect(detail.top5).toBe(2);
    expect(detail.lossSum).toBeCloseTo(Math.log(4 / 3) + Math.log(4), 6);
    expect(detail.losses[2]).toBe(-1);
  });

  test('gradient is softmax minus one-hot', () => {
    const logits = Float32Array.from([0, Math.log(3)]);
    const scored = scoreLogits(logits, Int32Array.from([0]), 2, true);
    expect(scored.dLogits![0]).toBeCloseTo(0.25 - 1, 6);
    expect(scored.dLogits![1]).toBeCloseTo(0.75, 6);
  });

  test('top-5 counts ties against the target', () => {
    const logits = new Float32Array(8).fill(1);
    expect(scoreEvaluation(logits, Int32Array.from([4]), 8).top5).toBe(1);
    expect(scoreEvaluation(logits, Int32Array.from([5]), 8).top5).toBe(0);
  });
});

describe('per-token windows', () => {
  test('score every target once with enough context', () => {
    const lengths = [2, 9, 10, 11, 40, 157];
    const sequences = lengths.map((n) => new Int32Array(n));
    for (const stride of [1, 4, 8]) {
      const windows = perTokenWindows(sequences, 8, stride);
      lengths.forEach((n, s) => {
        const targets: number[] = [];
        for (const w of windows.filter((x) => x.seq === s)) {
          for (let i = w.scoreFrom; i < w.scoreTo; i++) {
            targets.push(w.start + i + 1);
            // Context of target j is j − start tokens; beyond the first window it is at least L − stride + 1.
            if (w.start > 0) expect(i + 1).toBeGreaterThanOrEqual(8 - stride + 1);
          }
          expect(w.start + 8).toBeLessThanOrEqual(Math.max(8, n - 1));
        }
        expect(targets.sort((a, b) => a - b)).toEqual(Array.from({ length: n - 1 }, (_, i) => i + 1));
      });
    }
  });
});

/** An evaluator whose "model" gives every target the loss 1 + position / 10, to check the bookkeeping. */
class PositionEvaluator {
  batches = 0;
  evaluate(batch: BatchInput): EvaluationDetail {
    this.batches += 1;
    const losses = new Float32Array(batch.targets.length).fill(-1);
    let lossSum = 0;
    let tokens = 0;
    batch.targets.forEach((t, n) => {
      if (t < 0) return;
      losses[n] = 1 + (n % batch.seqLen) / 10;
      lossSum += losses[n];
      tokens += 1;
    });
    return { lossSum, tokens, correct: tokens, top5: tokens, losses };
  }
}

describe('evaluation loops', () => {
  const sequences = [Int32Array.from({ length: 30 }, (_, i) => i % 7), Int32Array.from({ length: 5 }, (_, i) => i)];

  test('window metric weights every target', async () => {
    const metrics = await evaluateWindows(new PositionEvaluator(), sequences, { seqLen: 8, stride: 4, mode: 'drop-short' }, 2);
    // Starts 0, 4, …, 20 of the 30-token sequence: 6 windows of 8 targets, mean position loss 1.35.
    expect(metrics.tokens).toBe(48);
    expect(metrics.loss).toBeCloseTo(1.35, 6);
    expect(metrics.lossByPosition[0]).toBeCloseTo(1, 6);
    expect(metrics.lossByPosition[7]).toBeCloseTo(1.7, 6);
    expect(metrics.perplexity).toBeCloseTo(Math.exp(1.35), 6);
    expect(metrics.bitsPerToken).toBeCloseTo(1.35 / Math.LN2, 6);
  });

  test('per-token metric counts every token after the first', async () => {
    const metrics = await evaluatePerToken(new PositionEvaluator(), sequences, { seqLen: 8, stride: 4, batchSize: 3 });
    expect(metrics.tokens).toBe(29 + 4);
    expect(metrics.accuracy).toBe(1);
  });

  test('accumulator returns NaN without tokens', () => {
    expect(new MetricsAccumulator(4).result().loss).toBeNaN();
  });
});
