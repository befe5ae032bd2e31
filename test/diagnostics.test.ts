import { generationDiagnostics, jensenShannon, repeatRate, unigramDistribution } from '../src/generate/diagnostics.js';

describe('repeatRate', () => {
  test('lag 1 counts equal neighbours', () => {
    // Positions 1..5 compare 1=1, 2≠1, 2=2, 2=2, 3≠2: 3 of 5.
    expect(repeatRate([1, 1, 2, 2, 2, 3], 1)).toBeCloseTo(3 / 5, 15);
  });

  test('lag 2 compares two back', () => {
    // Positions 2..5 compare 2≠1, 2≠1, 2=2, 3≠2: 1 of 4.
    expect(repeatRate([1, 1, 2, 2, 2, 3], 2)).toBeCloseTo(1 / 4, 15);
  });

  test('periodic sequence repeats at its period', () => {
    const ids = Array.from({ length: 45 }, (_, t) => t % 20);
    expect(repeatRate(ids, 20)).toBe(1);
    expect(repeatRate(ids, 1)).toBe(0);
  });

  test('short sequence gives 0', () => {
    expect(repeatRate([], 1)).toBe(0);
    expect(repeatRate([4], 1)).toBe(0);
    expect(repeatRate([4, 4, 4], 20)).toBe(0);
  });

  test('accepts typed arrays', () => {
    expect(repeatRate(Int32Array.from([5, 5, 5, 6]), 1)).toBeCloseTo(2 / 3, 15);
  });

  test.each([0, -1, 1.5, Number.NaN])('rejects lag %p', (lag) => {
    expect(() => repeatRate([1, 2, 3], lag)).toThrow(/Invalid repeat lag/);
  });
});

describe('unigramDistribution', () => {
  test('pools counts over sequences', () => {
    const distribution = unigramDistribution([[0, 1, 1], Int32Array.from([3, 1])], 4);
    expect(Array.from(distribution)).toEqual([0.2, 0.6, 0, 0.2]);
  });

  test('no tokens gives zeros', () => {
    expect(Array.from(unigramDistribution([[], []], 3))).toEqual([0, 0, 0]);
  });

  test('rejects out-of-range token', () => {
    expect(() => unigramDistribution([[0], [1, 4]], 4)).toThrow(/Token 4 at position 1 of sequence 1/);
    expect(() => unigramDistribution([[-1]], 4)).toThrow(/Token -1/);
  });

  test('rejects invalid vocabulary size', () => {
    expect(() => unigramDistribution([[0]], 0)).toThrow(/vocabulary size 0/);
  });
});

describe('jensenShannon', () => {
  test('identical distributions give 0', () => {
    const p = Float64Array.from([0.1, 0.2, 0.3, 0.4]);
    expect(jensenShannon(p, Float64Array.from(p))).toBe(0);
  });

  test('disjoint supports give 1 bit', () => {
    const p = Float64Array.from([0.5, 0.5, 0, 0]);
    const q = Float64Array.from([0, 0, 0.25, 0.75]);
    expect(jensenShannon(p, q)).toBeCloseTo(1, 15);
  });

  test('matches hand-worked value', () => {
    // m = (0.75, 0.25). KL(p||m) = log2(4/3) and KL(q||m) = (log2(2/3) + 1) / 2,
    // so JS = H(m) - (H(p) + H(q)) / 2 = 0.8112781 - 0.5 = 0.3112781 bits.
    const p = Float64Array.from([1, 0]);
    const q = Float64Array.from([0.5, 0.5]);
    const expected = 0.5 * Math.log2(4 / 3) + 0.25 * (Math.log2(2 / 3) + 1);
    expect(jensenShannon(p, q)).toBeCloseTo(expected, 14);
    expect(jensenShannon(p, q)).toBeCloseTo(0.3112781, 7);
  });

  test('is symmetric', () => {
    const p = Float64Array.from([0.7, 0.2, 0.1]);
    const q = Float64Array.from([0.1, 0.3, 0.6]);
    expect(jensenShannon(p, q)).toBeCloseTo(jensenShannon(q, p), 15);
  });

  test('rejects mismatched lengths', () => {
    expect(() => jensenShannon(Float64Array.from([1]), Float64Array.from([0.5, 0.5]))).toThrow(/lengths 1 and 2/);
  });

  test('rejects non-distributions', () => {
    expect(() => jensenShannon(Float64Array.from([0.5, 0.2]), Float64Array.from([0.5, 0.5]))).toThrow(/p sums to 0\.7/);
    expect(() => jensenShannon(Float64Array.from([1, 0]), Float64Array.from([1.5, -0.5]))).toThrow(/-0\.5 at index 1 of q/);
    expect(() => jensenShannon(Float64Array.from([1, Number.NaN]), Float64Array.from([1, 0]))).toThrow(/NaN at index 1 of p/);
  });
});

describe('generationDiagnostics', () => {
  test('pools repeat positions over samples', () => {
    // Lag-1 positions: 2 in the first sample (1 repeat) and 3 in the second
    // (3 repeats), so 4 / 5 = 0.8, not the mean of per-sample rates (0.75).
    const result = generationDiagnostics(
      [
        [1, 1, 2],
        [3, 3, 3, 3],
      ],
      [[0, 1, 2, 3]],
      4,
    );
    expect(result.repeatPreviousRate).toBeCloseTo(0.8, 15);
    expect(result.repeatLag20Rate).toBe(0);
    expect(result.generatedTokens).toBe(7);
  });

  test('reports lag-20 repeats', () => {
    const looping = Array.from({ length: 30 }, (_, t) => t % 20);
    const varied = Array.from({ length: 25 }, (_, t) => t % 3);
    // looping: 10 positions, all repeat. varied: 5 positions, none repeat
    // because 20 is not a multiple of 3. Pooled: 10 / 15.
    const result = generationDiagnostics([looping, varied], [looping], 20);
    expect(result.repeatLag20Rate).toBeCloseTo(10 / 15, 15);
  });

  test('divergence compares unigram distributions', () => {
    const generated = [
      [0, 0],
      [0, 0],
    ];
    const reference = [[0, 1]];
    // Generated (1, 0) against reference (0.5, 0.5): the hand-worked 0.3112781 bits.
    expect(generationDiagnostics(generated, reference, 2).jsDivergence).toBeCloseTo(0.3112781, 7);
    expect(generationDiagnostics([[0, 1]], [[1, 0, 1, 0]], 2).jsDivergence).toBe(0);
    expect(generationDiagnostics([[0, 0]], [[1, 1]], 2).jsDivergence).toBeCloseTo(1, 15);
  });

  test('rejects empty generation or reference', () => {
    expect(() => generationDiagnostics([[], []], [[0]], 2)).toThrow(/generated samples contain no tokens/);
    expect(() => generationDiagnostics([[0]], [], 2)).toThrow(/reference sequences contain no tokens/);
  });

  test('rejects token outside vocabulary', () => {
    expect(() => generationDiagnostics([[0, 5]], [[0]], 2)).toThrow(/Token 5 at position 1 of sequence 0/);
  });
});
