import * as fs from 'node:fs';

import { numpyShuffledRange, Pcg64, randomInterval, SeedSequence } from '../src/data/numpyRandom.js';
import { splitSequences } from '../src/data/split.js';
import { corpusPath } from './helpers/corpora.js';

/**
 * Expected permutations of `idx = list(range(count)); np.random.default_rng(seed).shuffle(idx)`,
 * produced by NumPy 2.4.6. The checksum is sum(i * idx[i]) mod 1_000_000_007, so
 * it covers every entry and its position.
 */
interface ShuffleCase {
  count: number;
  seed: number;
  checksum: number;
  first: number[];
  last: number[];
}

const SHUFFLE_CASES: ShuffleCase[] = [
  { count: 1, seed: 42, checksum: 0, first: [0], last: [0] },
  { count: 2, seed: 42, checksum: 0, first: [1, 0], last: [1, 0] },
  { count: 10, seed: 42, checksum: 216, first: [5, 6, 0, 7, 3, 2, 4, 9, 1, 8], last: [5, 6, 0, 7, 3, 2, 4, 9, 1, 8] },
  {
    count: 217,
    seed: 42,
    checksum: 2506752,
    first: [211, 88, 7, 178, 95, 26, 168, 206, 80, 159, 203, 50, 212, 195, 119, 124, 67, 149, 130, 89],
    last: [139, 199, 41, 110, 22, 19, 163, 64, 47, 113, 140, 181, 14, 141, 194, 36, 97, 193, 205, 136],
  },
  {
    count: 2174,
    seed: 42,
    checksum: 555516457,
    first: [683, 1830, 1720, 884, 924, 729, 2093, 1070, 1250, 748, 596, 1970, 29, 734, 1888, 203, 116, 538, 1011, 2073],
    last: [1994, 333, 182, 2097, 2150, 687, 41, 275, 675, 1856, 1137, 749, 908, 437, 491, 1550, 706, 1572, 1633, 1672],
  },
  {
    count: 10000,
    seed: 42,
    checksum: 495465003,
    first: [8132, 8268, 719, 8237, 4555, 6651, 5650, 9034, 1260, 644, 9098, 3760, 34, 8086, 4873, 1538, 3355, 888, 8564, 529],
    last: [6193, 3590, 4783, 7819, 4137, 3606, 4371, 675, 5952, 3375, 1137, 8941, 5004, 437, 491, 2189, 4802, 5668, 5729, 9864],
  },
  {
    count: 70000,
    seed: 42,
    checksum: 208895780,
    first: [68143, 31172, 6037, 29920, 45886, 65638, 30909, 52293, 36809, 39076, 67191, 608, 22220, 69958, 42328, 17384, 62187, 2851, 25660, 23758],
    last: [20766, 33101, 41142, 22577, 52742, 30822, 40587, 69673, 32297, 3606, 53523, 38720, 3375, 17521, 25325, 437, 46606, 34957, 5668, 22113],
  },
  { count: 10, seed: 0, checksum: 195, first: [4, 6, 2, 7, 3, 5, 9, 0, 8, 1], last: [4, 6, 2, 7, 3, 5, 9, 0, 8, 1] },
  {
    count: 2174,
    seed: 0,
    checksum: 545086898,
    first: [350, 477, 90, 1253, 1838, 2150, 416, 193, 1943, 776, 145, 203, 1532, 857, 1872, 1931, 420, 2122, 979, 1940],
    last: [985, 1097, 1958, 775, 889, 115, 1311, 1520, 2152, 176, 1869, 1868, 2055, 487, 639, 315, 1974, 29, 1825, 607],
  },
  {
    count: 70000,
    seed: 0,
    checksum: 385694025,
    first: [38636, 44088, 42448, 60646, 15499, 31316, 60095, 15428, 7674, 33630, 1455, 47220, 25828, 26032, 28752, 46662, 42063, 23715, 61305, 45776],
    last: [45831, 69747, 55487, 62960, 37040, 14156, 59399, 49133, 66023, 32703, 18783, 39493, 31601, 22905, 7246, 31352, 20795, 61469, 48632, 33375],
  },
  { count: 10, seed: 7, checksum: 220, first: [8, 0, 7, 1, 3, 6, 2, 4, 5, 9], last: [8, 0, 7, 1, 3, 6, 2, 4, 5, 9] },
  {
    count: 2174,
    seed: 7,
    checksum: 579295857,
    first: [671, 1522, 803, 285, 372, 1721, 1134, 368, 1769, 1790, 575, 519, 1036, 502, 965, 726, 1245, 43, 224, 196],
    last: [875, 161, 799, 1822, 1361, 1426, 543, 1698, 645, 1479, 1679, 1757, 294, 727, 1844, 665, 325, 1858, 1631, 425],
  },
  {
    count: 70000,
    seed: 7,
    checksum: 861094201,
    first: [15808, 48179, 11705, 6440, 12002, 28192, 35791, 5854, 15571, 2333, 69694, 50488, 20365, 43396, 50785, 66452, 18065, 23716, 19948, 822],
    last: [57833, 32259, 68963, 161, 4895, 34129, 50578, 59042, 38343, 14625, 48633, 6494, 1679, 1757, 69926, 10036, 10050, 63842, 27285, 16809],
  },
  { count: 10, seed: 123456789, checksum: 219, first: [7, 4, 0, 5, 3, 8, 2, 1, 6, 9], last: [7, 4, 0, 5, 3, 8, 2, 1, 6, 9] },
  {
    count: 2174,
    seed: 123456789,
    checksum: 570954242,
    first: [300, 667, 250, 1793, 763, 558, 556, 1167, 296, 935, 2157, 1978, 511, 1311, 625, 1948, 140, 44, 2045, 841],
    last: [231, 240, 237, 2006, 428, 893, 866, 141, 265, 749, 668, 1025, 512, 1262, 1319, 1778, 1169, 524, 697, 316],
  },
  {
    count: 70000,
    seed: 123456789,
    checksum: 356940901,
    first: [38774, 47843, 59541, 30798, 10953, 60878, 51456, 55277, 2688, 39789, 30083, 36857, 21453, 21492, 69512, 15405, 22236, 47653, 16555, 31245],
    last: [63872, 65964, 39063, 11961, 33634, 20013, 58093, 10763, 61952, 31864, 2206, 47635, 46375, 5874, 18734, 44678, 66060, 697, 11932, 61756],
  },
  { count: 10, seed: 1099511627781, checksum: 221, first: [8, 1, 2, 5, 3, 0, 9, 7, 4, 6], last: [8, 1, 2, 5, 3, 0, 9, 7, 4, 6] },
  {
    count: 2174,
    seed: 1099511627781,
    checksum: 578024979,
    first: [1262, 1531, 777, 1861, 1724, 1770, 15, 953, 1095, 1460, 630, 1339, 794, 2057, 1586, 1247, 1863, 1333, 1714, 488],
    last: [1786, 1716, 1413, 1679, 919, 2064, 1082, 734, 2036, 1948, 1130, 2145, 799, 956, 1665, 367, 155, 1304, 1028, 790],
  },
  {
    count: 70000,
    seed: 1099511627781,
    checksum: 758371250,
    first: [10478, 4222, 15681, 34136, 25187, 26786, 12952, 15067, 24360, 50685, 3908, 368, 56179, 40803, 11076, 44292, 44886, 35059, 11204, 7356],
    last: [46746, 46842, 46772, 58263, 55312, 15308, 5178, 1948, 20449, 20276, 67865, 6350, 65903, 2533, 32742, 61280, 8347, 43758, 48759, 39663],
  },
];

const CHECKSUM_MODULUS = 1_000_000_007;

function positionChecksum(permutation: readonly number[]): number {
  let checksum = 0;
  for (let i = 0; i < permutation.length; i += 1) {
    checksum = (checksum + i * permutation[i]) % CHECKSUM_MODULUS;
  }
  return checksum;
}

describe('SeedSequence', () => {
  // Values of np.random.SeedSequence(entropy).pool in NumPy 2.4.6.
  test.each([
    [42, [1662858758, 128880814, 1875164712, 753753205]],
    [0, [4265667335, 1328953910, 1320288413, 3365567143]],
    [2 ** 40 + 5, [2635101428, 3437552004, 3468235908, 3153711952]],
  ])('pool of entropy %p', (entropy, expected) => {
    expect(Array.from(new SeedSequence(entropy).pool)).toEqual(expected);
  });

  test('pool of entropy longer than pool', () => {
    expect(Array.from(new SeedSequence([1, 2, 3, 4, 5, 6]).pool)).toEqual([988259991, 2719934729, 3479241324, 1314086023]);
  });

  test('pool of bigint entropy above 2^64', () => {
    expect(Array.from(new SeedSequence(2n ** 70n + 3n).pool)).toEqual([3435483930, 2277436512, 849986699, 3652452159]);
  });

  test('generateState32 and generateState64', () => {
    const sequence = new SeedSequence(42);
    expect(Array.from(sequence.generateState32(6))).toEqual([3444837047, 2669555309, 2046530742, 3581440988, 1691623607, 2099784219]);
    expect(sequence.generateState64(4)).toEqual([11465652750463011511n, 15382171918060459190n, 9018504550953525431n, 3703499796004394495n]);
  });

  test('negative entropy rejected', () => {
    expect(() => new SeedSequence(-1)).toThrow(/non-negative, received -1/);
  });
});

describe('Pcg64', () => {
  test('seeded state matches NumPy', () => {
    const bits = new Pcg64(42);
    expect(bits.state).toBe(274674114334540486603088602300644985544n);
    expect(bits.increment).toBe(332724090758049132448979897138935081983n);
  });

  test('64-bit draws match random_raw', () => {
    const bits = new Pcg64(42);
    expect([bits.nextUint64(), bits.nextUint64(), bits.nextUint64()]).toEqual([14276969152011380360n, 8095878257575067585n, 15838336090824644132n]);
    const zero = new Pcg64(0);
    expect([zero.nextUint64(), zero.nextUint64()]).toEqual([11749869230777074271n, 4976686463289251617n]);
  });

  test('32-bit draws split 64-bit draws low half first', () => {
    const draw = new Pcg64(42).nextUint64();
    const bits = new Pcg64(42);
    expect(bits.nextUint32()).toBe(Number(draw & 0xffffffffn));
    expect(bits.nextUint32()).toBe(Number(draw >> 32n));
  });
});

describe('randomInterval', () => {
  test('matches random_interval across the 32/64-bit branch', () => {
    // Values of NumPy 2.4.6's C random_interval called on one PCG64(7) stream, bounds in this order.
    // The 32-bit branch leaves half a draw buffered, which the next 32-bit call must use even after 64-bit draws.
    const bounds = [5, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, 2 ** 53 - 1, 3, 1000, 2 ** 31];
    const expected = [3, 2684764585, 2938530453, 410505640290, 2020540880136002, 1, 665, 1224353588];
    const bits = new Pcg64(7);
    expect(bounds.map((bound) => randomInterval(bits, bound))).toEqual(expected);
  });

  test('bound zero draws nothing', () => {
    const bits = new Pcg64(1);
    expect(randomInterval(bits, 0)).toBe(0);
    expect(bits.nextUint64()).toBe(new Pcg64(1).nextUint64());
  });

  test('invalid bound rejected', () => {
    expect(() => randomInterval(new Pcg64(1), -1)).toThrow(/received -1/);
    expect(() => randomInterval(new Pcg64(1), 1.5)).toThrow(/received 1.5/);
  });
});

describe('numpyShuffledRange', () => {
  test.each(SHUFFLE_CASES.map((c) => [c.count, c.seed, c] as const))('count %p seed %p matches NumPy', (count, seed, expected) => {
    const permutation = numpyShuffledRange(count, seed);

    expect(permutation).toHaveLength(count);
    expect(permutation.slice(0, 20)).toEqual(expected.first);
    expect(permutation.slice(-20)).toEqual(expected.last);
    expect(positionChecksum(permutation)).toBe(expected.checksum);
  });

  test('result is a permutation', () => {
    const permutation = numpyShuffledRange(5000, 3);
    expect([...permutation].sort((a, b) => a - b)).toEqual(Array.from({ length: 5000 }, (_, i) => i));
  });

  test('empty range', () => {
    expect(numpyShuffledRange(0, 42)).toEqual([]);
  });

  test('invalid count or seed rejected', () => {
    expect(() => numpyShuffledRange(-3, 42)).toThrow(/count, received -3/);
    expect(() => numpyShuffledRange(10, -1)).toThrow(/seed like NumPy's default_rng, received -1/);
    expect(() => numpyShuffledRange(10, 0.5)).toThrow(/received 0.5/);
  });
});

describe('splitSequences', () => {
  test('reference split of 2174 sequences', () => {
    const split = splitSequences(2174);

    expect(split.trainIndices).toHaveLength(1957);
    expect(split.valIndices).toHaveLength(217);
    expect(split.seed).toBe(42);
    expect(split.valFraction).toBe(0.1);
    // NumPy: idx[1957:1962] and sorted(idx[1957:])[:10] of the seed-42 shuffle.
    expect(split.valIndices.slice(0, 5)).toEqual([1742, 1018, 566, 769, 1342]);
    expect([...split.valIndices].sort((a, b) => a - b).slice(0, 10)).toEqual([5, 13, 41, 42, 49, 63, 65, 76, 81, 93]);
    expect(split.valIndices.reduce((sum, index) => sum + index, 0)).toBe(228666);
  });

  test('train and val partition the indices', () => {
    const split = splitSequences(2174);
    const all = [...split.trainIndices, ...split.valIndices].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 2174 }, (_, i) => i));
  });

  test('split keeps shuffled order', () => {
    expect([...splitSequences(10).trainIndices, ...splitSequences(10).valIndices]).toEqual(numpyShuffledRange(10, 42));
  });

  test.each([
    // [count, valFraction, expected validation count], as max(1, int(count * valFraction)) in Python.
    [2, 0.1, 1],
    [19, 0.1, 1],
    [20, 0.1, 2],
    [30, 0.1, 3],
    [99, 0.1, 9],
    [10, 0.3, 3],
    [100, 0.07, 7],
    [3, 0.999, 2],
  ])('count %p fraction %p gives %p val', (count, valFraction, expected) => {
    const split = splitSequences(count, { valFraction });
    expect(split.valIndices).toHaveLength(expected);
    expect(split.trainIndices).toHaveLength(count - expected);
  });

  test('custom seed and fraction', () => {
    // NumPy: default_rng(3).shuffle(list(range(20))) gives this order; int(20 * 0.25) = 5.
    const split = splitSequences(20, { seed: 3, valFraction: 0.25 });
    expect(split.trainIndices).toEqual([16, 12, 18, 8, 3, 13, 15, 10, 6, 1, 2, 11, 17, 0, 14]);
    expect(split.valIndices).toEqual([9, 4, 7, 5, 19]);
  });

  test('split size of the real corpus', () => {
    const files = fs.readdirSync(corpusPath('vctk-hubert100', 'tokens', 'k_means')).filter((name) => name.endsWith('.npy'));
    const split = splitSequences(files.length);
    expect(files).toHaveLength(2174);
    expect(split.valIndices).toHaveLength(217);
  });

  test.each([0, 1, 2.5, Number.NaN])('count %p rejected', (count) => {
    expect(() => splitSequences(count)).toThrow(`received count ${count}`);
  });

  test.each([0, 1, -0.1, 1.5, Number.NaN])('valFraction %p rejected', (valFraction) => {
    expect(() => splitSequences(10, { valFraction })).toThrow(`strictly between 0 and 1, received ${valFraction}`);
  });

  test('negative seed rejected', () => {
    expect(() => splitSequences(10, { seed: -5 })).toThrow('non-negative integer, received -5');
  });
});
