import * as fs from 'node:fs';
import * as path from 'node:path';

import { splitSequences } from '../src/data/split.js';
import { addOneUnigram, computeBaselines, formatBaselineTable, KneserNeyModel, type BaselineResult } from '../src/eval/baselines.js';
import { Rng } from '../src/random.js';
import { corpusPath } from './helpers/corpora.js';

/**
 * Reads a 1-D little-endian int16 `.npy` file of version 1, the format of
 * the test corpora. The header length is the uint16 at bytes 8–9.
 */
function readInt16Npy(file: string): Int32Array {
  const bytes = fs.readFileSync(file);
  if (bytes.toString('latin1', 1, 6) !== 'NUMPY' || bytes[6] !== 1) {
    throw new Error(`${file} is not a version 1 .npy file.`);
  }
  const headerLength = bytes.readUInt16LE(8);
  const header = bytes.toString('latin1', 10, 10 + headerLength);
  if (!header.includes("'descr': '<i2'") || !header.includes("'fortran_order': False")) {
    throw new Error(`${file} is not a little-endian int16 array: ${header.trim()}`);
  }

  const dataStart = 10 + headerLength;
  const tokens = new Int32Array((bytes.length - dataStart) / 2);
  for (let i = 0; i < tokens.length; i += 1) {
    tokens[i] = bytes.readInt16LE(dataStart + 2 * i);
  }
  return tokens;
}

/** Reads every `.npy` file of a folder in sorted file-name order. */
function readCorpus(folder: string): Int32Array[] {
  return fs
    .readdirSync(folder)
    .filter((name) => name.endsWith('.npy'))
    .sort()
    .map((name) => readInt16Npy(path.join(folder, name)));
}

/** Splits a corpus with the reference rule: NumPy seed 42, last 10 % of the shuffle for validation. */
function referenceSplit(sequences: Int32Array[]): { train: Int32Array[]; val: Int32Array[] } {
  const split = splitSequences(sequences.length);
  return {
    train: split.trainIndices.map((i) => sequences[i]),
    val: split.valIndices.map((i) => sequences[i]),
  };
}

/**
 * Toy corpus over vocabulary {0, 1, 2, 3}; token 3 never occurs in training.
 *
 *   train A = [0, 1, 1, 2, 0, 1], train B = [2, 1, 1, 0]
 *   val     = [1, 1, 0, 3] and [2] (too short to contribute a target)
 *
 * Unigram counts: c(0) = 3, c(1) = 5, c(2) = 2, c(3) = 0, N = 10.
 * Add-one unigram: (c + 1) / 14 = 4/14, 6/14, 3/14, 1/14.
 *
 * Bigram counts: c(0 1) = 2, c(1 1) = 2, c(1 2) = 1, c(1 0) = 1, c(2 0) = 1, c(2 1) = 1.
 * Context totals and distinct continuations:
 *   c(0 ·) = 2, N1+(0 •) = 1;  c(1 ·) = 4, N1+(1 •) = 3;  c(2 ·) = 2, N1+(2 •) = 2.
 * Continuation counts N1+(• w): w=0 after {1, 2} → 2, w=1 after {0, 1, 2} → 3,
 * w=2 after {1} → 1, w=3 → 0; 6 bigram types in all.
 * Bottom unigram p0(w) = (N1+(• w) + 1) / (6 + 4) = 0.3, 0.4, 0.2, 0.1.
 *
 * Bigram p(w | v) = (max(c(v w) - 0.75, 0) + 0.75 · N1+(v •) · p0(w)) / c(v ·):
 *   p(1 | 1) = (1.25 + 0.75·3·0.4) / 4 = 2.15 / 4  = 0.5375
 *   p(0 | 1) = (0.25 + 0.75·3·0.3) / 4 = 0.925 / 4 = 0.23125
 *   p(2 | 1) = (0.25 + 0.75·3·0.2) / 4 = 0.7 / 4   = 0.175
 *   p(3 | 1) = (0    + 0.75·3·0.1) / 4 = 0.225 / 4 = 0.05625   (the four sum to 1)
 *   p(3 | 0) = (0    + 0.75·1·0.1) / 2 = 0.0375
 *
 * Trigram counts, each 1: (0 1 1), (1 1 2), (1 2 0), (2 0 1), (2 1 1), (1 1 0).
 * Context (1 1): total 2, N1+ = 2. Context (1 0) never occurs.
 *   p(0 | 1 1) = (0.25 + 0.75·2·0.23125) / 2 = 0.596875 / 2 = 0.2984375
 *   p(3 | 1 0) = p(3 | 0) = 0.0375 (unseen context, bigram unchanged)
 *   p(1 | 1 1) = (0 + 1.5·0.5375) / 2 = 0.403125, the Kneser–Ney argmax.
 *
 * Targets of val [1, 1, 0, 3]: position 1 → 1, position 2 → 0, position 3 → 3.
 *   unigram:  6/14, 4/14, 1/14
 *   bigram:   p(1|1) = 0.5375, p(0|1) = 0.23125, p(3|0) = 0.0375
 *   trigram:  p(1|1) = 0.5375 (one token of history), p(0|1 1) = 0.2984375, p(3|1 0) = 0.0375
 * Most frequent continuations: after 1 → 1 (count 2); after 0 → 1; after (1 1) → {0, 2} tie → 0.
 *   bigram hits: 1 ✓, 0 ✗ (predicts 1), 3 ✗ (predicts 1) → 1/3
 *   trigram hits: 1 ✓, 0 ✓ (tie goes to the smaller id), 3 ✗ (context unseen, bigram predicts 1) → 2/3
 *   repeat previous: 1 after 1 ✓, 0 after 1 ✗, 3 after 0 ✗ → 1/3
 */
const TOY_TRAIN = [Int32Array.from([0, 1, 1, 2, 0, 1]), Int32Array.from([2, 1, 1, 0])];
const TOY_VAL = [Int32Array.from([1, 1, 0, 3]), Int32Array.from([2])];
const TOY_VOCAB = 4;

function meanNegativeLog(probabilities: number[]): number {
  return -probabilities.reduce((sum, p) => sum + Math.log(p), 0) / probabilities.length;
}

describe('toy corpus worked by hand', () => {
  const result = computeBaselines(TOY_TRAIN, TOY_VAL, TOY_VOCAB);

  test('token count', () => {
    expect(result.tokens).toBe(3);
  });

  test('unigram cross-entropy', () => {
    expect(result.unigramCE).toBeCloseTo(meanNegativeLog([6 / 14, 4 / 14, 1 / 14]), 12);
  });

  test('bigram cross-entropy and accuracy', () => {
    expect(result.bigramCE).toBeCloseTo(meanNegativeLog([0.5375, 0.23125, 0.0375]), 12);
    expect(result.bigramAccuracy).toBeCloseTo(1 / 3, 12);
  });

  test('trigram cross-entropy and accuracy', () => {
    expect(result.trigramCE).toBeCloseTo(meanNegativeLog([0.5375, 0.2984375, 0.0375]), 12);
    expect(result.trigramAccuracy).toBeCloseTo(2 / 3, 12);
  });

  test('repeat-previous accuracy', () => {
    expect(result.repeatAccuracy).toBeCloseTo(1 / 3, 12);
  });

  test('add-one unigram', () => {
    expect(Array.from(addOneUnigram(TOY_TRAIN, TOY_VOCAB))).toEqual([4 / 14, 6 / 14, 3 / 14, 1 / 14]);
  });
});

describe('KneserNeyModel', () => {
  const bigram = KneserNeyModel.fit(TOY_TRAIN, TOY_VOCAB, { order: 2 });
  const trigram = KneserNeyModel.fit(TOY_TRAIN, TOY_VOCAB);

  test('bottom level is add-one continuation unigram', () => {
    expect(Array.from(trigram.distribution([]))).toEqual([0.3, 0.4, 0.2, 0.1].map((p): unknown => expect.closeTo(p, 12)));
  });

  test('bigram distribution by hand', () => {
    const expected = [0.23125, 0.5375, 0.175, 0.05625];
    expect(Array.from(bigram.distribution([1]))).toEqual(expected.map((p): unknown => expect.closeTo(p, 12)));
  });

  test('trigram probabilities by hand', () => {
    expect(trigram.probability([1, 1], 0)).toBeCloseTo(0.2984375, 12);
    expect(trigram.probability([1, 1], 1)).toBeCloseTo(0.403125, 12);
    expect(trigram.probability([1, 0], 3)).toBeCloseTo(0.0375, 12);
    expect(trigram.probability([2, 1, 1], 0)).toBeCloseTo(0.2984375, 12);
  });

  test('probabilityAt uses only earlier tokens', () => {
    const sequence = [1, 1, 0, 3];
    expect(trigram.probabilityAt(sequence, 1)).toBeCloseTo(0.5375, 12);
    expect(trigram.probabilityAt(sequence, 2)).toBeCloseTo(0.2984375, 12);
    expect(trigram.probabilityAt(sequence, 3)).toBeCloseTo(0.0375, 12);
  });

  test('predict picks most frequent continuation', () => {
    expect(trigram.predict([1, 1])).toBe(0);
    expect(trigram.predict([1, 0])).toBe(1);
    expect(trigram.predict([3])).toBe(1);
    expect(trigram.predictAt([1, 1, 0, 3], 3)).toBe(1);
  });

  test('distributions sum to one on a random corpus', () => {
    const rng = new Rng(5);
    const vocab = 7;
    const train = Array.from({ length: 6 }, () => Int32Array.from({ length: 40 }, () => Math.floor(rng.uniform() * vocab)));
    const model = KneserNeyModel.fit(train, vocab, { order: 4, discount: 0.5 });

    for (let trial = 0; trial < 200; trial += 1) {
      const history = Array.from({ length: Math.floor(rng.uniform() * 5) }, () => Math.floor(rng.uniform() * vocab));
      const distribution = model.distribution(history);
      const sum = distribution.reduce((total, p) => total + p, 0);
      expect(sum).toBeCloseTo(1, 12);
      for (let w = 0; w < vocab; w += 1) {
        expect(model.probability(history, w)).toBeCloseTo(distribution[w], 14);
      }
    }
  });

  test('invalid inputs rejected', () => {
    expect(() => KneserNeyModel.fit(TOY_TRAIN, 4, { order: 1 })).toThrow('at least 2, received 1');
    expect(() => KneserNeyModel.fit(TOY_TRAIN, 4, { discount: 1.5 })).toThrow('(0, 1], received 1.5');
    expect(() => KneserNeyModel.fit(TOY_TRAIN, 2)).toThrow('Invalid token 2 at position 3 of training sequence 0');
    expect(() => KneserNeyModel.fit(TOY_TRAIN, 2 ** 20, { order: 4 })).toThrow('too large for order 4');
    expect(() => trigram.probability([1], 4)).toThrow('Token 4 is outside the vocabulary [0, 4)');
    expect(() => trigram.probabilityAt([1, 2], 2)).toThrow('Position 2 is outside a sequence of length 2');
  });
});

describe('computeBaselines input checks', () => {
  test('out-of-range validation token', () => {
    expect(() => computeBaselines(TOY_TRAIN, [Int32Array.from([0, -1])], 4)).toThrow('Invalid token -1 at position 1 of validation sequence 0');
  });

  test('empty training set', () => {
    expect(() => computeBaselines([new Int32Array(0)], TOY_VAL, 4)).toThrow('training set has no tokens');
  });

  test('no scorable validation token', () => {
    expect(() => computeBaselines(TOY_TRAIN, [Int32Array.from([1])], 4)).toThrow('shorter than 2 tokens');
  });
});

describe('formatBaselineTable', () => {
  const result: BaselineResult = {
    unigramCE: 4.3187,
    bigramCE: 1.6405,
    bigramAccuracy: 0.5237,
    trigramCE: 1.5038,
    trigramAccuracy: 0.5593,
    repeatAccuracy: 0.5118,
    tokens: 37850,
  };

  test('aligned rows with extra model row', () => {
    const table = formatBaselineTable(result, [{ name: 'transformer', crossEntropy: 1.5182, accuracy: 0.54 }]);
    const lines = table.split('\n');

    expect(lines[0]).toBe('model                  CE (nats)  perplexity  accuracy');
    expect(lines[1]).toBe('unigram (add-one)          4.319      75.091         -');
    expect(lines[3]).toBe('Kneser-Ney trigram         1.504       4.499     0.559');
    expect(lines[4]).toBe('repeat previous token          -           -     0.512');
    expect(lines[5]).toBe('transformer                1.518       4.564     0.540');
    expect(lines[6]).toBe('37850 validation tokens scored');
    expect(new Set(lines.slice(0, 6).map((line) => line.length)).size).toBe(1);
  });
});

describe('reference baselines on real corpora', () => {
  // Reference numbers: NumPy seed 42 split, 1,957 train / 217 val sequences in sorted file-name order.
  test.each([
    {
      corpus: 'vctk-hubert100',
      folder: 'k_means',
      vocab: 100,
      tokens: 37850,
      expected: { unigramCE: '4.319', bigramCE: '1.641', bigramAccuracy: '0.524', trigramCE: '1.504', trigramAccuracy: '0.559', repeatAccuracy: '0.512' },
    },
    {
      corpus: 'vctk-vqvae256',
      folder: 'vqvae',
      vocab: 256,
      tokens: 76351,
      expected: { unigramCE: '4.678', bigramCE: '4.084', bigramAccuracy: '0.120', trigramCE: '3.988', trigramAccuracy: '0.151', repeatAccuracy: '0.047' },
    },
  ])('$corpus matches reference table', ({ corpus, folder, vocab, tokens, expected }) => {
    const { train, val } = referenceSplit(readCorpus(corpusPath(corpus, 'tokens', folder)));
    expect(train).toHaveLength(1957);
    expect(val).toHaveLength(217);

    const result = computeBaselines(train, val, vocab);

    expect(result.tokens).toBe(tokens);
    expect(result.unigramCE.toFixed(3)).toBe(expected.unigramCE);
    expect(result.bigramCE.toFixed(3)).toBe(expected.bigramCE);
    expect(result.bigramAccuracy.toFixed(3)).toBe(expected.bigramAccuracy);
    expect(result.trigramCE.toFixed(3)).toBe(expected.trigramCE);
    expect(result.trigramAccuracy.toFixed(3)).toBe(expected.trigramAccuracy);
    expect(result.repeatAccuracy.toFixed(3)).toBe(expected.repeatAccuracy);
  });

  test('Kneser-Ney argmax beats most-frequent rule', () => {
    // The trigram's predict() follows the reference accuracy; the argmax of its distribution scores higher.
    const { train, val } = referenceSplit(readCorpus(corpusPath('vctk-hubert100', 'tokens', 'k_means')));
    const model = KneserNeyModel.fit(train, 100);

    let hits = 0;
    let tokens = 0;
    for (const sequence of val) {
      for (let t = 1; t < sequence.length; t += 1) {
        const distribution = model.distribution(sequence.subarray(0, t));
        let best = 0;
        for (let w = 1; w < distribution.length; w += 1) {
          if (distribution[w] > distribution[best]) {
            best = w;
          }
        }
        hits += best === sequence[t] ? 1 : 0;
        tokens += 1;
      }
    }
    expect((hits / tokens).toFixed(3)).toBe('0.561');
  });
});
