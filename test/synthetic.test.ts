import * as fs from 'node:fs';
import * as path from 'node:path';

import { parse as parseNpy } from 'npyjs';

import {
  buildBatCallSource,
  DEFAULT_BAT_CALL_SOURCE,
  encodeInt16Npy,
  entropyRate,
  expectedTokenEntropies,
  generateSyntheticCorpus,
  sampleTokens,
  sequenceNegativeLogLikelihood,
  stationaryDistribution,
  stationaryResidual,
  syntheticCorpusManifest,
  syntheticEntropyRate,
  syntheticFileName,
  tokenNegativeLogLikelihoods,
  validateUnifilarSource,
  type SyntheticCorpusManifest,
  type UnifilarSource,
} from '../src/data/synthetic.js';
import { Rng } from '../src/random.js';

const CORPUS_DIR = path.resolve(__dirname, '..', 'data', 'synthetic-bat-calls');

function binaryEntropy(p: number): number {
  return -p * Math.log(p) - (1 - p) * Math.log(1 - p);
}

// Two states. State 0 stays with token 0 (probability p) or moves with token 1. State 1 moves back with token 0 (probability q).
function twoStateSource(p: number, q: number): UnifilarSource {
  return {
    vocabSize: 2,
    start: 0,
    states: [
      {
        label: 'zero',
        transitions: [
          { token: 0, probability: p, next: 0 },
          { token: 1, probability: 1 - p, next: 1 },
        ],
      },
      {
        label: 'one',
        transitions: [
          { token: 0, probability: q, next: 0 },
          { token: 1, probability: 1 - q, next: 1 },
        ],
      },
    ],
  };
}

describe('entropyRate', () => {
  test('two-state chain matches the closed form', () => {
    const p = 0.9;
    const q = 0.25;
    const piZero = q / (1 - p + q);
    const expected = piZero * binaryEntropy(p) + (1 - piZero) * binaryEntropy(q);
    expect(entropyRate(twoStateSource(p, q))).toBeCloseTo(expected, 14);
  });

  test('default source equals its long-run sample estimate', () => {
    const source = buildBatCallSource();
    const exact = entropyRate(source);

    // One long sample from the start state, scored under the true chain. Batch means give the standard error,
    // because neighbouring tokens are correlated.
    const batches = 40;
    const batchLength = 100_000;
    const losses = tokenNegativeLogLikelihoods(source, sampleTokens(source, new Rng(7), batches * batchLength));
    const batchMeans = Array.from(
      { length: batches },
      (_, b) => losses.subarray(b * batchLength, (b + 1) * batchLength).reduce((sum, loss) => sum + loss, 0) / batchLength,
    );
    const estimate = batchMeans.reduce((sum, value) => sum + value, 0) / batches;
    const variance = batchMeans.reduce((sum, value) => sum + (value - estimate) ** 2, 0) / (batches - 1);
    const standardError = Math.sqrt(variance / batches);

    expect(standardError).toBeLessThan(0.001);
    expect(Math.abs(estimate - exact)).toBeLessThan(5 * standardError);
  });

  test('syntheticEntropyRate matches the default source', () => {
    expect(syntheticEntropyRate()).toBe(entropyRate(buildBatCallSource()));
    expect(syntheticEntropyRate()).toBeGreaterThan(0.5);
    expect(syntheticEntropyRate()).toBeLessThan(Math.log(DEFAULT_BAT_CALL_SOURCE.vocabSize));
  });

  test('changing a hold probability changes the rate', () => {
    expect(syntheticEntropyRate({ silenceHold: 0.5 })).not.toBeCloseTo(syntheticEntropyRate(), 3);
  });
});

describe('stationaryDistribution', () => {
  test('sums to 1 with residual below 1e-12', () => {
    const source = buildBatCallSource();
    const pi = stationaryDistribution(source);
    expect(pi.reduce((sum, value) => sum + value, 0)).toBeCloseTo(1, 12);
    expect(Math.min(...pi)).toBeGreaterThan(0);
    expect(stationaryResidual(source, pi)).toBeLessThan(1e-12);
  });

  test('agrees with power iteration', () => {
    const source = buildBatCallSource();
    const pi = stationaryDistribution(source);

    let power = new Float64Array(source.states.length).fill(1 / source.states.length);
    for (let iteration = 0; iteration < 5000; iteration++) {
      const next = new Float64Array(power.length);
      source.states.forEach((state, s) => {
        for (const transition of state.transitions) next[transition.next] += power[s] * transition.probability;
      });
      power = next;
    }
    const maxDifference = power.reduce((max, value, s) => Math.max(max, Math.abs(value - pi[s])), 0);
    expect(maxDifference).toBeLessThan(1e-12);
  });

  test('chain with two closed classes is rejected', () => {
    const split: UnifilarSource = {
      vocabSize: 2,
      start: 0,
      states: [
        { label: 'left', transitions: [{ token: 0, probability: 1, next: 0 }] },
        { label: 'right', transitions: [{ token: 1, probability: 1, next: 1 }] },
      ],
    };
    expect(() => stationaryDistribution(split)).toThrow(/more than one closed class/);
  });
});

describe('buildBatCallSource', () => {
  test('every state has distinct tokens and probabilities summing to 1', () => {
    const source = buildBatCallSource();
    expect(() => validateUnifilarSource(source)).not.toThrow();
    for (const state of source.states) {
      const tokens = state.transitions.map((transition) => transition.token);
      expect(new Set(tokens).size).toBe(tokens.length);
    }
  });

  test('start state is a silence run of 1', () => {
    const source = buildBatCallSource();
    expect(source.states[source.start].label).toBe('silence run 1');
  });

  test('runs never exceed the caps', () => {
    const tokens = sampleTokens(buildBatCallSource(), new Rng(3), 200_000);
    let longestUnitRun = 0;
    let longestSilence = 0;
    let run = 1;
    for (let t = 1; t <= tokens.length; t++) {
      if (t < tokens.length && tokens[t] === tokens[t - 1]) {
        run += 1;
        continue;
      }
      if (tokens[t - 1] === DEFAULT_BAT_CALL_SOURCE.silenceUnit) longestSilence = Math.max(longestSilence, run);
      else longestUnitRun = Math.max(longestUnitRun, run);
      run = 1;
    }
    // Neighbouring positions and onsets use different units, so no run continues across positions or syllables.
    expect(longestUnitRun).toBeLessThanOrEqual(DEFAULT_BAT_CALL_SOURCE.maxRun);
    // The sequence starts as if one silence token had just been emitted, so the first silence run can be one shorter.
    expect(longestSilence).toBeLessThanOrEqual(DEFAULT_BAT_CALL_SOURCE.maxSilenceRun);
  });

  test('consecutive positions sharing a unit are rejected', () => {
    const syllables = [
      {
        name: 'A',
        positions: [
          { units: [1], hold: 0.5 },
          { units: [2], hold: 0.5 },
          { units: [2, 3], hold: 0.5 },
        ],
        next: { A: 1 },
      },
    ];
    expect(() => buildBatCallSource({ vocabSize: 4, syllables, firstSyllableWeights: { A: 1 } })).toThrow(/emits token 2 on two transitions/);
  });

  test('unknown syllable name is rejected', () => {
    expect(() => buildBatCallSource({ firstSyllableWeights: { Z: 1 } })).toThrow(/unknown syllable type "Z"/);
  });

  test('unit outside the vocabulary is rejected', () => {
    expect(() => buildBatCallSource({ vocabSize: 40 })).toThrow(/must be an integer unit in \[0, 40\)/);
  });

  test('invalid hold probability is rejected', () => {
    expect(() => buildBatCallSource({ silenceHold: 1.5 })).toThrow(/silenceHold must be a probability in \[0, 1\], received 1.5/);
  });
});

describe('expectedTokenEntropies', () => {
  test('first position is the start state entropy', () => {
    const source = buildBatCallSource();
    const startEntropy = source.states[source.start].transitions.reduce(
      (sum, transition) => sum - transition.probability * Math.log(transition.probability),
      0,
    );
    expect(expectedTokenEntropies(source, 1)[0]).toBeCloseTo(startEntropy, 15);
  });

  test('late positions approach the entropy rate', () => {
    const source = buildBatCallSource();
    const entropies = expectedTokenEntropies(source, 2000);
    expect(entropies[1999]).toBeCloseTo(entropyRate(source), 10);
  });

  test('matches sampled loss per position', () => {
    const source = buildBatCallSource();
    const length = 6;
    const runs = 40_000;
    const rng = new Rng(11);
    const totals = new Float64Array(length);
    for (let r = 0; r < runs; r++) {
      const tokens = sampleTokens(source, rng, length);
      const losses = tokenNegativeLogLikelihoods(source, tokens);
      for (let t = 0; t < length; t++) totals[t] += losses[t];
    }
    const expected = expectedTokenEntropies(source, length);
    for (let t = 0; t < length; t++) {
      expect(Math.abs(totals[t] / runs - expected[t])).toBeLessThan(0.02);
    }
  });
});

describe('sequenceNegativeLogLikelihood', () => {
  test('sums the per-token losses', () => {
    const source = buildBatCallSource();
    const tokens = sampleTokens(source, new Rng(5), 50);
    const total = tokenNegativeLogLikelihoods(source, tokens).reduce((sum, loss) => sum + loss, 0);
    expect(sequenceNegativeLogLikelihood(source, tokens)).toBe(total);
    expect(total).toBeGreaterThan(0);
  });

  test('impossible token is rejected with its position', () => {
    // After one silence token, unit 9 (a body unit) cannot start a syllable.
    expect(() => sequenceNegativeLogLikelihood(buildBatCallSource(), [0, 9])).toThrow(
      /Token 9 at position 1 is impossible in state "silence run 2", so the tokens were not drawn from this source/,
    );
  });
});

describe('generateSyntheticCorpus', () => {
  test('lengths stay in bounds and many are short', () => {
    const { sequences } = generateSyntheticCorpus();
    expect(sequences).toHaveLength(300);
    const lengths = sequences.map((sequence) => sequence.length);
    expect(Math.min(...lengths)).toBeGreaterThanOrEqual(40);
    expect(Math.max(...lengths)).toBeLessThanOrEqual(400);
    expect(lengths.filter((length) => length < 64).length).toBeGreaterThan(30);
  });

  test('same seed gives the same corpus', () => {
    const first = generateSyntheticCorpus({ sequences: 5, seed: 9 });
    const second = generateSyntheticCorpus({ sequences: 5, seed: 9 });
    const other = generateSyntheticCorpus({ sequences: 5, seed: 10 });
    expect(second.sequences).toEqual(first.sequences);
    expect(other.sequences).not.toEqual(first.sequences);
  });

  test('every token is within the vocabulary', () => {
    const { sequences } = generateSyntheticCorpus({ sequences: 20 });
    const tokens = sequences.flatMap((sequence) => Array.from(sequence));
    expect(Math.min(...tokens)).toBe(0);
    expect(Math.max(...tokens)).toBeLessThan(DEFAULT_BAT_CALL_SOURCE.vocabSize);
  });

  test('maxLength below minLength is rejected', () => {
    expect(() => generateSyntheticCorpus({ minLength: 50, maxLength: 40 })).toThrow(/maxLength \(40\) must be >= minLength \(50\)/);
  });
});

describe('encodeInt16Npy', () => {
  test('writes a NumPy 1.0 header padded to 64 bytes', () => {
    const bytes = encodeInt16Npy([1, -2, 300]);
    const headerLength = bytes[8] | (bytes[9] << 8);
    const header = Buffer.from(bytes.subarray(10, 10 + headerLength)).toString('latin1');

    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
    expect((10 + headerLength) % 64).toBe(0);
    expect(header.startsWith("{'descr': '<i2', 'fortran_order': False, 'shape': (3,), }")).toBe(true);
    expect(header.endsWith(' \n')).toBe(true);
    expect(bytes.length).toBe(10 + headerLength + 6);
  });

  test('npyjs reads the values back', () => {
    const values = [0, 47, -32768, 32767, 12];
    const bytes = encodeInt16Npy(values);
    const array = parseNpy(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer);
    expect(array.dtype).toBe('i2');
    expect(array.shape).toEqual([5]);
    expect(Array.from(array.data as Int16Array)).toEqual(values);
  });

  test('value outside int16 is rejected', () => {
    expect(() => encodeInt16Npy([1, 40000])).toThrow(/Value 40000 at index 1 does not fit in int16/);
  });
});

describe('committed demo corpus', () => {
  const corpus = generateSyntheticCorpus();

  test('every file is byte-identical to a fresh generation', () => {
    const folder = path.join(CORPUS_DIR, 'tokens', 'k_means');
    const names = fs
      .readdirSync(folder)
      .filter((name) => name.endsWith('.npy'))
      .sort();
    expect(names).toEqual(corpus.sequences.map((_, index) => syntheticFileName(index)));

    corpus.sequences.forEach((sequence, index) => {
      const committed = fs.readFileSync(path.join(folder, syntheticFileName(index)));
      expect(Buffer.compare(committed, Buffer.from(encodeInt16Npy(sequence)))).toBe(0);
    });
  });

  test('source.json matches the manifest', () => {
    const committed = JSON.parse(fs.readFileSync(path.join(CORPUS_DIR, 'source.json'), 'utf8')) as SyntheticCorpusManifest;
    const manifest = syntheticCorpusManifest(corpus);
    const { entropyRate: committedRate, trueSourceCrossEntropy: committedTrue, ...committedRest } = committed;
    const { entropyRate: rate, trueSourceCrossEntropy: trueSource, ...rest } = JSON.parse(JSON.stringify(manifest)) as SyntheticCorpusManifest;

    expect(committedRest).toEqual(rest);
    expect(committedRate.natsPerToken).toBeCloseTo(rate.natsPerToken, 12);
    expect(committedRate.bitsPerToken).toBeCloseTo(rate.bitsPerToken, 12);
    expect(committedTrue.realisedNatsPerToken).toBeCloseTo(trueSource.realisedNatsPerToken, 12);
    expect(committedTrue.expectedNatsPerToken).toBeCloseTo(trueSource.expectedNatsPerToken, 12);
    expect(committed.synthetic).toBe(true);
  });

  test('README is labelled SYNTHETIC and states the rate', () => {
    const readme = fs.readFileSync(path.join(CORPUS_DIR, 'README.md'), 'utf8');
    const manifest = syntheticCorpusManifest(corpus);
    expect(readme).toMatch(/^# SYNTHETIC/);
    expect(readme).toContain(manifest.entropyRate.natsPerToken.toFixed(6));
    expect(readme).toContain(manifest.entropyRate.bitsPerToken.toFixed(6));
  });

  test('corpus stays under 1 MB', () => {
    const folder = path.join(CORPUS_DIR, 'tokens', 'k_means');
    const bytes = fs.readdirSync(folder).reduce((sum, name) => sum + fs.statSync(path.join(folder, name)).size, 0);
    expect(bytes).toBeLessThan(1_000_000);
  });
});
