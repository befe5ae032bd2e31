import { buildWindows, countTargets, fillBatch, windowOrder } from '../src/data/windows';
import { Rng } from '../src/random';

const seq = (n: number, offset = 0): Int32Array => Int32Array.from({ length: n }, (_, i) => i + offset);

/** The original rule, written out directly: starts 0, s, 2s, … ≤ n − (L + 1) for sequences longer than L. */
function seedRule(sequences: Int32Array[], L: number, stride: number): [number, number][] {
  const windows: [number, number][] = [];
  sequences.forEach((s, si) => {
    if (s.length <= L) return;
    for (let start = 0; start <= s.length - (L + 1); start += stride) windows.push([si, start]);
  });
  return windows;
}

describe('windows', () => {
  test('drop-short mode follows the original rule', () => {
    const sequences = [seq(10), seq(64), seq(65), seq(200), seq(70)];
    for (const stride of [1, 4, 16, 64]) {
      const windows = buildWindows(sequences, { seqLen: 64, stride, mode: 'drop-short' });
      const expected = seedRule(sequences, 64, stride);
      expect(windows.count).toBe(expected.length);
      expect(Array.from(windows.seqIndex)).toEqual(expected.map((w) => w[0]));
      expect(Array.from(windows.start)).toEqual(expected.map((w) => w[1]));
      expect(new Set(windows.length)).toEqual(new Set([64]));
    }
  });

  test('pad mode keeps short sequences and tails', () => {
    const windows = buildWindows([seq(1), seq(5), seq(20)], { seqLen: 8, stride: 8, mode: 'pad' });
    // seq(1) has no target; seq(5): one padded window of 4 targets; seq(20): starts 0 and 8, then a tail window at 11.
    expect(Array.from(windows.seqIndex)).toEqual([1, 2, 2, 2]);
    expect(Array.from(windows.start)).toEqual([0, 0, 8, 11]);
    expect(Array.from(windows.length)).toEqual([4, 8, 8, 8]);
    expect(countTargets(windows)).toBe(28);
  });

  test('random offsets score every target after the offset', () => {
    const sequences = [seq(100), seq(30), seq(9)];
    const everEpoch = sequences.map(() => new Set<number>());
    for (let epoch = 0; epoch < 40; epoch++) {
      const windows = buildWindows(sequences, { seqLen: 8, stride: 8, mode: 'pad', randomOffset: true }, new Rng(epoch));
      for (let s = 0; s < sequences.length; s++) {
        const covered = new Set<number>();
        let first = Number.POSITIVE_INFINITY;
        for (let w = 0; w < windows.count; w++) {
          if (windows.seqIndex[w] !== s) continue;
          first = Math.min(first, windows.start[w]);
          for (let i = 0; i < windows.length[w]; i++) covered.add(windows.start[w] + i + 1);
        }
        expect(first).toBeLessThan(8);
        for (let target = first + 1; target < sequences[s].length; target++) expect(covered.has(target)).toBe(true);
        covered.forEach((target) => everEpoch[s].add(target));
      }
    }
    // Offsets change every epoch, so over many epochs every target is trained.
    sequences.forEach((sequence, s) => expect(everEpoch[s].size).toBe(sequence.length - 1));
  });

  test('aligned windows start on the grid', () => {
    const sequences = [seq(100), seq(30), seq(9), seq(23)];
    const offsets = new Set<number>();
    for (let epoch = 0; epoch < 40; epoch++) {
      const windows = buildWindows(sequences, { seqLen: 8, stride: 8, mode: 'pad', randomOffset: true, align: 4 }, new Rng(epoch));
      for (let s = 0; s < sequences.length; s++) {
        const covered = new Set<number>();
        const starts: number[] = [];
        for (let w = 0; w < windows.count; w++) {
          if (windows.seqIndex[w] !== s) continue;
          starts.push(windows.start[w]);
          for (let i = 0; i < windows.length[w]; i++) covered.add(windows.start[w] + i + 1);
        }
        for (const start of starts) expect(start % 4).toBe(0);
        expect(new Set(starts).size).toBe(starts.length);

        // Every target from the first window on is scored, except at most 3 at the end.
        const first = Math.min(...starts);
        const lastScored = Math.max(...covered);
        expect(lastScored).toBeGreaterThanOrEqual(sequences[s].length - 4);
        for (let target = first + 1; target <= lastScored; target++) expect(covered.has(target)).toBe(true);
        if (s === 0) offsets.add(first);
      }
    }
    // Both grid points below the stride are drawn.
    expect([...offsets].sort((a, b) => a - b)).toEqual([0, 4]);
  });

  test('without tails, epochs draw from the stride-4 set', () => {
    const sequences = [seq(100), seq(37), seq(6)];
    const drawn = new Set<string>();
    for (let epoch = 0; epoch < 60; epoch++) {
      const windows = buildWindows(sequences, { seqLen: 8, stride: 16, mode: 'pad', randomOffset: true, align: 4, tail: false }, new Rng(epoch));
      for (let w = 0; w < windows.count; w++) drawn.add(`${windows.seqIndex[w]}:${windows.start[w]}:${windows.length[w]}`);
    }

    // Every full window at a multiple of 4, as cut at stride 4, and the short sequence padded.
    const expected = new Set<string>(['2:0:5']);
    [100, 37].forEach((n, s) => {
      for (let start = 0; start <= n - 9; start += 4) expected.add(`${s}:${start}:8`);
    });
    expect([...drawn].sort()).toEqual([...expected].sort());
  });

  test('an align that does not divide the stride is rejected', () => {
    expect(() => buildWindows([seq(100)], { seqLen: 8, stride: 6, align: 4 })).toThrow(
      /align must be a positive integer that divides the stride 6, received 4/,
    );
  });

  test('batches shift targets by one and mask padding', () => {
    const sequences = [seq(5, 10), seq(12, 50)];
    const windows = buildWindows(sequences, { seqLen: 6, stride: 6, mode: 'pad' });
    const batch = fillBatch(sequences, windows, windowOrder(windows.count), 0, 2);
    expect(Array.from(batch.inputs.subarray(0, 6))).toEqual([10, 11, 12, 13, 0, 0]);
    expect(Array.from(batch.targets.subarray(0, 6))).toEqual([11, 12, 13, 14, -1, -1]);
    expect(Array.from(batch.inputs.subarray(6, 12))).toEqual([50, 51, 52, 53, 54, 55]);
    expect(Array.from(batch.targets.subarray(6, 12))).toEqual([51, 52, 53, 54, 55, 56]);
  });

  test('no window is an error naming the rule', () => {
    expect(() => buildWindows([seq(10)], { seqLen: 64, stride: 4, mode: 'drop-short' })).toThrow(/seqLen 64 in drop-short mode/);
  });

  test('shuffled order is a seeded permutation', () => {
    const a = windowOrder(50, new Rng(1));
    const b = windowOrder(50, new Rng(1));
    expect(Array.from(a)).toEqual(Array.from(b));
    expect(Array.from(a).sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(Array.from(a)).not.toEqual(Array.from(windowOrder(50, new Rng(2))));
  });
});
