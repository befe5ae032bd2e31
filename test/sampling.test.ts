import { Rng } from '../src/random.js';
import { DEFAULT_SAMPLING_OPTIONS, processLogits, sampleNext, validateSamplingOptions, type SamplingOptions } from '../src/generate/sampling.js';

/** Reference softmax over plain numbers, written independently of the library. */
function softmax(values: number[]): number[] {
  const maximum = Math.max(...values);
  const weights = values.map((value) => Math.exp(value - maximum));
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  return weights.map((weight) => weight / total);
}

/** Reference argmax with the lowest index on ties. */
function argmaxLowest(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function options(overrides: SamplingOptions, vocabSize: number) {
  return validateSamplingOptions(overrides, vocabSize);
}

function randomLogits(rng: Rng, vocabSize: number, scale = 3): Float32Array {
  const logits = new Float32Array(vocabSize);
  for (let i = 0; i < vocabSize; i++) logits[i] = rng.normal() * scale;
  return logits;
}

function expectProbabilities(actual: Float64Array, expected: number[]): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((value, i) => expect(actual[i]).toBeCloseTo(value, 12));
}

describe('validateSamplingOptions', () => {
  test('fills documented defaults', () => {
    expect(validateSamplingOptions({}, 10)).toEqual({
      temperature: 1,
      topK: 0,
      topP: 1,
      repetitionPenalty: 1,
      penaltyWindow: 64,
    });
    expect(DEFAULT_SAMPLING_OPTIONS.penaltyWindow).toBe(64);
  });

  test('keeps given values', () => {
    const given = { temperature: 0.7, topK: 5, topP: 0.9, repetitionPenalty: 1.2, penaltyWindow: 8 };
    expect(validateSamplingOptions(given, 10)).toEqual(given);
  });

  test.each([
    [{ temperature: -0.1 }, /temperature -0\.1/],
    [{ temperature: Number.NaN }, /temperature NaN/],
    [{ temperature: Number.POSITIVE_INFINITY }, /temperature Infinity/],
    [{ topK: -1 }, /topK -1/],
    [{ topK: 2.5 }, /topK 2\.5/],
    [{ topP: 1.5 }, /topP 1\.5/],
    [{ topP: -0.01 }, /topP -0\.01/],
    [{ topP: Number.NaN }, /topP NaN/],
    [{ repetitionPenalty: 0 }, /repetitionPenalty 0/],
    [{ repetitionPenalty: -2 }, /repetitionPenalty -2/],
    [{ penaltyWindow: -3 }, /penaltyWindow -3/],
    [{ penaltyWindow: 1.5 }, /penaltyWindow 1\.5/],
  ] as [SamplingOptions, RegExp][])('rejects %p', (given, message) => {
    expect(() => validateSamplingOptions(given, 10)).toThrow(message);
  });

  test('rejects invalid vocabulary size', () => {
    expect(() => validateSamplingOptions({}, 0)).toThrow(/vocabulary size 0/);
    expect(() => validateSamplingOptions({}, 3.5)).toThrow(/vocabulary size 3\.5/);
  });

  test('error messages are one line', () => {
    expect(() => validateSamplingOptions({ topK: -1 }, 10)).toThrow(/^[^\n]+$/);
  });
});

describe('temperature', () => {
  test('scales logits as hand-computed', () => {
    const logits = Float32Array.from([2, 1, 0, -1]);
    const probabilities = processLogits(logits, [], options({ temperature: 2 }, 4));
    expectProbabilities(probabilities, softmax([1, 0.5, 0, -0.5]));
  });

  test('temperature 1 is the plain softmax', () => {
    const logits = Float32Array.from([0.5, -2, 3, 1]);
    expectProbabilities(processLogits(logits, [], options({}, 4)), softmax([0.5, -2, 3, 1]));
  });

  test('temperature 0 is argmax, lowest id on ties', () => {
    const logits = Float32Array.from([1, 4, -2, 4, 0]);
    const probabilities = processLogits(logits, [], options({ temperature: 0 }, 5));
    expect(Array.from(probabilities)).toEqual([0, 1, 0, 0, 0]);
    expect(sampleNext(logits, [], options({ temperature: 0 }, 5), new Rng(3))).toBe(1);
  });

  test('small temperature does not overflow', () => {
    const logits = Float32Array.from([3e38, 1e38, -3e38]);
    const probabilities = processLogits(logits, [], options({ temperature: 1e-30 }, 3));
    expect(Array.from(probabilities)).toEqual([1, 0, 0]);
  });
});

describe('top-k', () => {
  test('k = 1 equals greedy on random logits', () => {
    const rng = new Rng(11);
    const topOne = options({ topK: 1 }, 40);
    const greedy = options({ temperature: 0 }, 40);
    for (let trial = 0; trial < 300; trial++) {
      // Rounding to integers creates ties, which both paths must break the same way.
      const logits = randomLogits(rng, 40).map((value) => (trial % 2 === 0 ? Math.round(value) : value));
      const expected = argmaxLowest(logits);
      expect(sampleNext(logits, [], topOne, rng, trial)).toBe(expected);
      expect(sampleNext(logits, [], greedy, rng, trial)).toBe(expected);
    }
  });

  test('ties at k-th value keep lower ids', () => {
    const logits = Float32Array.from([1, 2, 2, 2, 0]);
    const probabilities = processLogits(logits, [], options({ topK: 2 }, 5));
    expectProbabilities(probabilities, [0, 0.5, 0.5, 0, 0]);
  });

  test('k = 0 and k >= vocab are off', () => {
    const logits = Float32Array.from([0.1, 0.2, 0.3]);
    const full = softmax(Array.from(logits));
    expectProbabilities(processLogits(logits, [], options({ topK: 0 }, 3)), full);
    expectProbabilities(processLogits(logits, [], options({ topK: 3 }, 3)), full);
    expectProbabilities(processLogits(logits, [], options({ topK: 50 }, 3)), full);
  });

  // With every logit negative, an implementation that scatters the kept top-k
  // logits into a tensor of zeros gives the 47 dropped tokens logit 0, which
  // exceeds every kept logit (all <= -1). The dropped tokens would then take
  // almost all of the probability mass, and draws would land outside the top 3.
  test('all-negative logits never draw outside top 3', () => {
    const vocabSize = 50;
    const setup = new Rng(2024);
    const logits = new Float32Array(vocabSize);
    for (let i = 0; i < vocabSize; i++) logits[i] = -10 + 9 * setup.uniform();

    const ranked = Array.from(logits.keys()).sort((a, b) => logits[b] - logits[a] || a - b);
    const topThree = ranked.slice(0, 3);
    const expected = softmax(topThree.map((token) => logits[token]));

    const draws = 10_000;
    const counts = new Map<number, number>();
    const rng = new Rng(99);
    const topK = options({ topK: 3 }, vocabSize);
    for (let step = 0; step < draws; step++) {
      const token = sampleNext(logits, [], topK, rng, step);
      counts.set(token, (counts.get(token) ?? 0) + 1);
    }

    const outside = Array.from(counts.keys()).filter((token) => !topThree.includes(token));
    expect(outside).toEqual([]);

    // Pearson chi-square with 2 degrees of freedom. Its 0.999 quantile is -2 ln(0.001) = 13.8.
    let chiSquare = 0;
    topThree.forEach((token, rank) => {
      const expectedCount = expected[rank] * draws;
      const observed = counts.get(token) ?? 0;
      chiSquare += (observed - expectedCount) ** 2 / expectedCount;
      expect(Math.abs(observed / draws - expected[rank])).toBeLessThan(0.02);
    });
    expect(chiSquare).toBeLessThan(13.8);
  });
});

describe('top-p', () => {
  // Float32 logits cannot hold log(1/8) exactly, so the dyadic distribution
  // comes from integer logits at temperature 1 / ln 2: softmax gives
  // probabilities 2^-k up to float64 rounding, namely 0.5, 0.25, 0.125, 0.0625, 0.0625.
  const dyadic = Float32Array.from([0, -1, -2, -3, -3]);
  const dyadicTemperature = 1 / Math.LN2;
  const nucleus = (topP: number, topK = 0) => processLogits(dyadic, [], options({ topP, topK, temperature: dyadicTemperature }, 5));

  test('dyadic logits give dyadic probabilities', () => {
    expectProbabilities(nucleus(1), [0.5, 0.25, 0.125, 0.0625, 0.0625]);
  });

  test('p = 0 is greedy', () => {
    const rng = new Rng(5);
    for (let trial = 0; trial < 100; trial++) {
      const logits = randomLogits(rng, 30).map((value) => Math.round(value));
      const probabilities = processLogits(logits, [], options({ topP: 0 }, 30));
      const expected = argmaxLowest(logits);
      expect(probabilities[expected]).toBe(1);
      expect(sampleNext(logits, [], options({ topP: 0 }, 30), rng)).toBe(expected);
    }
  });

  test('p = 1 keeps the distribution unchanged', () => {
    const rng = new Rng(6);
    const logits = randomLogits(rng, 20);
    const probabilities = processLogits(logits, [], options({ topP: 1 }, 20));
    expectProbabilities(probabilities, softmax(Array.from(logits)));
  });

  test('p equal to a cumulative sum keeps that set', () => {
    expectProbabilities(nucleus(0.5), [1, 0, 0, 0, 0]);
    expectProbabilities(nucleus(0.75), [2 / 3, 1 / 3, 0, 0, 0]);
    expectProbabilities(nucleus(0.875), [4 / 7, 2 / 7, 1 / 7, 0, 0]);
  });

  test('p just above a cumulative sum adds one token', () => {
    const probabilities = nucleus(0.75 + 1e-6);
    expect(Array.from(probabilities).filter((value) => value > 0)).toHaveLength(3);
  });

  test('p just below a cumulative sum keeps that set', () => {
    const probabilities = nucleus(0.75 - 1e-6);
    expect(Array.from(probabilities).filter((value) => value > 0)).toHaveLength(2);
  });

  test('nucleus of tied tail keeps lower id', () => {
    // 0.9 is reached at the fourth token; of the two tied at 0.0625, id 3 enters first.
    expectProbabilities(nucleus(0.9), [0.5 / 0.9375, 0.25 / 0.9375, 0.125 / 0.9375, 0.0625 / 0.9375, 0]);
  });

  test('applies to renormalised top-k set', () => {
    // After top-k = 2 the kept probabilities are 2/3 and 1/3, so p = 0.6 keeps
    // only the first token; over the full distribution it would keep two.
    const probabilities = nucleus(0.6, 2);
    expectProbabilities(probabilities, [1, 0, 0, 0, 0]);
  });

  test('top-k then top-p never leaves empty set', () => {
    const rng = new Rng(8);
    for (let trial = 0; trial < 500; trial++) {
      const vocabSize = 1 + rng.int(64);
      const logits = randomLogits(rng, vocabSize, 1 + 10 * rng.uniform());
      // Mask some tokens so the kept set can contain -Infinity entries.
      for (let i = 0; i < vocabSize; i++) if (i > 0 && rng.uniform() < 0.3) logits[i] = Number.NEGATIVE_INFINITY;
      const topK = rng.int(vocabSize + 2);
      const topP = trial % 5 === 0 ? 0 : rng.uniform();
      const probabilities = processLogits(logits, [], options({ topK, topP, temperature: 0.1 + 2 * rng.uniform() }, vocabSize));

      const kept = Array.from(probabilities).filter((value) => value > 0).length;
      const sum = probabilities.reduce((total, value) => total + value, 0);
      expect(kept).toBeGreaterThanOrEqual(1);
      if (topK > 0) expect(kept).toBeLessThanOrEqual(topK);
      expect(sum).toBeCloseTo(1, 12);
      expect(probabilities[argmaxLowest(logits)]).toBeGreaterThan(0);
    }
  });
});

describe('repetition penalty', () => {
  test('matches hand-computed example', () => {
    const logits = Float32Array.from([2, -1, 3, 0.5, -2]);
    // Window 3 contains [1, 1, 3]: token 1 (negative) is multiplied by 2 once,
    // token 3 (positive) is divided by 2, and tokens 0 and 2 are too old.
    const history = [2, 0, 1, 1, 3];
    const probabilities = processLogits(logits, history, options({ repetitionPenalty: 2, penaltyWindow: 3 }, 5));
    expectProbabilities(probabilities, softmax([2, -2, 3, 0.25, -2]));
  });

  test('repeated token is penalised once', () => {
    const logits = Float32Array.from([2, -1, 3, 0.5, -2]);
    const probabilities = processLogits(logits, [1, 1, 1, 1], options({ repetitionPenalty: 2, penaltyWindow: 4 }, 5));
    // Token 1 goes from -1 to -2, the logit of token 4, so their probabilities match.
    expect(probabilities[1]).toBeCloseTo(probabilities[4], 15);
  });

  test('wider window reaches older tokens', () => {
    const logits = Float32Array.from([2, -1, 3, 0.5, -2]);
    const history = [2, 0, 1, 1, 3];
    const probabilities = processLogits(logits, history, options({ repetitionPenalty: 2, penaltyWindow: 64 }, 5));
    expectProbabilities(probabilities, softmax([1, -2, 1.5, 0.25, -2]));
  });

  test('penalty 1 and window 0 are off', () => {
    const logits = Float32Array.from([2, -1, 3]);
    const plain = softmax([2, -1, 3]);
    expectProbabilities(processLogits(logits, [0, 1, 2], options({ repetitionPenalty: 1 }, 3)), plain);
    expectProbabilities(processLogits(logits, [0, 1, 2], options({ repetitionPenalty: 3, penaltyWindow: 0 }, 3)), plain);
  });

  test('applies before temperature', () => {
    const logits = Float32Array.from([4, 1]);
    const probabilities = processLogits(logits, [0], options({ repetitionPenalty: 2, temperature: 0.5 }, 2));
    expectProbabilities(probabilities, softmax([4, 2]));
  });

  test('rejects invalid history token', () => {
    const logits = Float32Array.from([0, 0, 0]);
    const penalised = options({ repetitionPenalty: 1.5 }, 3);
    expect(() => processLogits(logits, [0, 7], penalised, 12)).toThrow(/History token 7 at position 1 .* step 12/);
    expect(() => processLogits(logits, [0, -1], penalised, 12)).toThrow(/History token -1/);
    expect(() => processLogits(logits, [0.5], penalised, 12)).toThrow(/History token 0\.5/);
  });

  test('reused buffers carry no state', () => {
    const logits = Float32Array.from([1, 1, 1]);
    const penalised = options({ repetitionPenalty: 2 }, 3);
    expect(() => processLogits(logits, [0, 9], penalised)).toThrow(/History token 9/);
    // A token marked before the failure must not stay marked for the next call.
    const probabilities = processLogits(logits, [0], penalised);
    expectProbabilities(probabilities, softmax([0.5, 1, 1]));
    const again = processLogits(logits, [0, 0], penalised);
    expectProbabilities(again, softmax([0.5, 1, 1]));
  });
});

describe('invalid logits', () => {
  test('NaN names step and token', () => {
    const logits = Float32Array.from([0, 1, 2, Number.NaN, 4]);
    expect(() => sampleNext(logits, [], options({}, 5), new Rng(1), 17)).toThrow(/token 3 is NaN at step 17/);
    expect(() => sampleNext(logits, [], options({ temperature: 0 }, 5), new Rng(1), 17)).toThrow(/step 17/);
  });

  test('NaN without step still throws', () => {
    const logits = Float32Array.from([Number.NaN]);
    expect(() => processLogits(logits, [], options({}, 1))).toThrow(/token 0 is NaN/);
  });

  test('+Infinity is rejected', () => {
    const logits = Float32Array.from([0, Number.POSITIVE_INFINITY]);
    expect(() => processLogits(logits, [], options({}, 2), 4)).toThrow(/token 1 is \+Infinity at step 4/);
  });

  test('all -Infinity is rejected', () => {
    const logits = new Float32Array(6).fill(Number.NEGATIVE_INFINITY);
    expect(() => sampleNext(logits, [], options({}, 6), new Rng(1), 2)).toThrow(/Every one of the 6 logits is -Infinity at step 2/);
  });

  test('empty row is rejected', () => {
    expect(() => processLogits(new Float32Array(0), [], DEFAULT_SAMPLING_OPTIONS)).toThrow(/vocabulary size 0/);
  });

  test('output buffer length is checked', () => {
    expect(() => processLogits(new Float32Array(3), [], options({}, 3), 0, new Float64Array(2))).toThrow(/length 2/);
  });

  test('-Infinity entries are never sampled', () => {
    const vocabSize = 8;
    const logits = new Float32Array(vocabSize).fill(Number.NEGATIVE_INFINITY);
    logits[3] = 0;
    logits[7] = 0;
    const rng = new Rng(123);
    const seen = new Set<number>();
    for (let step = 0; step < 2000; step++) {
      seen.add(sampleNext(logits, [], options({ temperature: 3 }, vocabSize), rng, step));
    }
    expect(Array.from(seen).sort()).toEqual([3, 7]);
  });

  test('-Infinity entries get zero probability', () => {
    const logits = Float32Array.from([Number.NEGATIVE_INFINITY, 1, Number.NEGATIVE_INFINITY, 2]);
    const probabilities = processLogits(logits, [0, 2], options({ repetitionPenalty: 1.3, topK: 3 }, 4));
    expect(probabilities[0]).toBe(0);
    expect(probabilities[2]).toBe(0);
    expect(probabilities[1] + probabilities[3]).toBeCloseTo(1, 12);
  });
});

describe('draw', () => {
  function decode(seed: number): number[] {
    const vocabSize = 32;
    const table = new Rng(77);
    const rows = Array.from({ length: 100 }, () => randomLogits(table, vocabSize, 2));
    const sampling = options({ temperature: 0.9, topK: 20, topP: 0.95, repetitionPenalty: 1.3, penaltyWindow: 16 }, vocabSize);

    const rng = new Rng(seed);
    const tokens: number[] = [];
    for (let step = 0; step < 100; step++) tokens.push(sampleNext(rows[step], tokens, sampling, rng, step));
    return tokens;
  }

  test('same seed gives same sequence', () => {
    const first = decode(7);
    expect(first).toHaveLength(100);
    expect(decode(7)).toEqual(first);
  });

  test('different seeds give different sequences', () => {
    expect(decode(8)).not.toEqual(decode(7));
  });

  test('uses one uniform per step', () => {
    const logits = Float32Array.from([0, 1, 2]);
    for (const sampling of [options({}, 3), options({ temperature: 0 }, 3), options({ topK: 1, topP: 0.5 }, 3)]) {
      const rng = new Rng(31);
      const reference = new Rng(31);
      sampleNext(logits, [], sampling, rng);
      reference.uniform();
      expect(rng.getState()).toEqual(reference.getState());
    }
  });

  test('inverts the cumulative distribution', () => {
    // Probabilities 0.5, 0.25, 0.125, 0.0625, 0.0625: a uniform draw u picks
    // the first token whose cumulative sum exceeds u.
    const logits = Float32Array.from([0, -1, -2, -3, -3]);
    const dyadic = options({ temperature: 1 / Math.LN2 }, 5);
    const cases: [number, number][] = [
      [0, 0],
      [0.49, 0],
      [0.5, 1],
      [0.74, 1],
      [0.8, 2],
      [0.9, 3],
      [0.99, 4],
    ];
    for (const [u, token] of cases) {
      const fixed = { uniform: () => u } as unknown as Rng;
      expect(sampleNext(logits, [], dyadic, fixed)).toBe(token);
    }
  });

  test('frequencies follow softmax', () => {
    const logits = Float32Array.from([1, 0, -1, 0.5]);
    const expected = softmax([1, 0, -1, 0.5]);
    const rng = new Rng(4);
    const counts = [0, 0, 0, 0];
    const draws = 20_000;
    for (let step = 0; step < draws; step++) counts[sampleNext(logits, [], options({}, 4), rng, step)]++;
    counts.forEach((count, token) => expect(Math.abs(count / draws - expected[token])).toBeLessThan(0.015));
  });
});
