/**
 * A bit-exact port of the parts of NumPy's random module that
 * `np.random.default_rng(seed).shuffle(list)` uses: `SeedSequence`, the
 * `PCG64` bit generator with its buffered 32-bit draws, and the
 * bounded-integer rejection sampler `random_interval`.
 *
 * Reference experiments split their recordings with NumPy, so reproducing the
 * exact permutation lets this library train and evaluate on the same
 * sequences. The tests check every stage against values produced by NumPy
 * 2.4.6. 128-bit arithmetic uses BigInt, which is slow next to native code:
 * shuffling 70,000 indices takes about 60 ms under Node 20.
 */

const UINT32_MASK = 0xffffffff;
const UINT64_MASK = (1n << 64n) - 1n;
const UINT128_MASK = (1n << 128n) - 1n;

// Hash constants of NumPy's SeedSequence.
const POOL_SIZE = 4;
const INIT_A = 0x43b0d7e5;
const MULT_A = 0x931e8875;
const INIT_B = 0x8b51f9dd;
const MULT_B = 0x58f38ded;
const MIX_MULT_L = 0xca01f9dd;
const MIX_MULT_R = 0x4973f715;
const XSHIFT = 16;

// The 128-bit LCG multiplier of PCG64.
const PCG_MULTIPLIER = 0x2360ed051fc65da44385df649fccf645n;

/**
 * Splits a non-negative integer into unsigned 32-bit words, least
 * significant first, as SeedSequence does with a Python int. Zero becomes the
 * single word 0.
 */
function entropyWords(entropy: number | bigint | readonly number[]): number[] {
  if (Array.isArray(entropy)) {
    return entropy.flatMap((word: number) => entropyWords(word));
  }

  if (typeof entropy === 'number' && !Number.isSafeInteger(entropy)) {
    throw new Error(`SeedSequence entropy must be a safe integer, received ${entropy}. Pass a bigint for larger seeds.`);
  }
  let value = BigInt(entropy as number | bigint);
  if (value < 0n) {
    throw new Error(`SeedSequence entropy must be non-negative, received ${value}.`);
  }

  const words: number[] = [];
  do {
    words.push(Number(value & 0xffffffffn));
    value >>= 32n;
  } while (value > 0n);
  return words;
}

/** Multiplies two unsigned 32-bit integers modulo 2^32. */
function mulUint32(a: number, b: number): number {
  return Math.imul(a, b) >>> 0;
}

/**
 * Seed mixer equivalent to NumPy's `SeedSequence` without a spawn key: it
 * hashes the entropy into a pool of four 32-bit words and expands that pool
 * into as many state words as a bit generator requests.
 *
 * @example
 * new SeedSequence(42).pool; // Uint32Array [1662858758, 128880814, 1875164712, 753753205]
 */
export class SeedSequence {
  /** The mixed entropy pool, four unsigned 32-bit words. */
  readonly pool: Uint32Array;

  /**
   * @param entropy - a non-negative integer, or a list of them; NumPy's
   *   `SeedSequence(entropy)` with the same value yields the same pool.
   */
  constructor(entropy: number | bigint | readonly number[]) {
    this.pool = mixEntropy(entropyWords(entropy));
  }

  /**
   * Generates `count` unsigned 32-bit state words, like NumPy's
   * `generate_state(count, np.uint32)`.
   */
  generateState32(count: number): Uint32Array {
    const state = new Uint32Array(count);
    let hashConst = INIT_B;
    for (let i = 0; i < count; i += 1) {
      let value = (this.pool[i % POOL_SIZE] ^ hashConst) >>> 0;
      hashConst = mulUint32(hashConst, MULT_B);
      value = mulUint32(value, hashConst);
      state[i] = (value ^ (value >>> XSHIFT)) >>> 0;
    }
    return state;
  }

  /**
   * Generates `count` unsigned 64-bit state words, like NumPy's
   * `generate_state(count, np.uint64)`: twice as many 32-bit words, paired
   * little-endian (the first of each pair is the low half).
   */
  generateState64(count: number): bigint[] {
    const words = this.generateState32(2 * count);
    const state: bigint[] = [];
    for (let i = 0; i < count; i += 1) {
      state.push(BigInt(words[2 * i]) | (BigInt(words[2 * i + 1]) << 32n));
    }
    return state;
  }
}

/** Creates SeedSequence's hash function, whose multiplier advances with every call. */
function makeHashMix(): (value: number) => number {
  let hashConst = INIT_A;
  return (value: number) => {
    let mixed = (value ^ hashConst) >>> 0;
    hashConst = mulUint32(hashConst, MULT_A);
    mixed = mulUint32(mixed, hashConst);
    return (mixed ^ (mixed >>> XSHIFT)) >>> 0;
  };
}

/** Combines two pool words into one. */
function mixWords(x: number, y: number): number {
  // Both products are signed 32-bit values, so their difference is exact in a double before the reduction.
  const result = (Math.imul(MIX_MULT_L, x) - Math.imul(MIX_MULT_R, y)) >>> 0;
  return (result ^ (result >>> XSHIFT)) >>> 0;
}

/** Hashes the entropy words into a four-word pool. */
function mixEntropy(entropy: readonly number[]): Uint32Array {
  const hashMix = makeHashMix();
  const pool = new Uint32Array(POOL_SIZE);

  // Fill the pool with the first words, padding with hashed zeros.
  for (let i = 0; i < POOL_SIZE; i += 1) {
    pool[i] = hashMix(i < entropy.length ? entropy[i] : 0);
  }

  // Let every pool word influence every other one.
  for (let source = 0; source < POOL_SIZE; source += 1) {
    for (let target = 0; target < POOL_SIZE; target += 1) {
      if (source !== target) {
        pool[target] = mixWords(pool[target], hashMix(pool[source]));
      }
    }
  }

  // Fold in entropy words that did not fit in the pool.
  for (let source = POOL_SIZE; source < entropy.length; source += 1) {
    for (let target = 0; target < POOL_SIZE; target += 1) {
      pool[target] = mixWords(pool[target], hashMix(entropy[source]));
    }
  }
  return pool;
}

/**
 * NumPy's `PCG64` bit generator: a 128-bit linear congruential generator
 * with the XSL-RR output function, seeded through a {@link SeedSequence}.
 *
 * @example
 * const bits = new Pcg64(42);
 * bits.nextUint64(); // 14276969152011380360n, as np.random.PCG64(42).random_raw()
 */
export class Pcg64 {
  /** The 128-bit LCG state. */
  state: bigint;
  /** The 128-bit LCG increment, always odd. */
  readonly increment: bigint;
  // The high half of the last 64-bit draw, returned by the next 32-bit draw.
  private bufferedUint32: number | null = null;

  /**
   * @param seed - a non-negative integer or a {@link SeedSequence}; equal
   *   seeds give the stream of `np.random.PCG64(seed)`.
   */
  constructor(seed: number | bigint | SeedSequence) {
    const sequence = seed instanceof SeedSequence ? seed : new SeedSequence(seed);
    const [seedHigh, seedLow, incrementHigh, incrementLow] = sequence.generateState64(4);
    const initialState = (seedHigh << 64n) | seedLow;
    const sequenceSelector = (incrementHigh << 64n) | incrementLow;

    // Seed as PCG does: step once from zero, add the initial state, step again.
    this.increment = ((sequenceSelector << 1n) | 1n) & UINT128_MASK;
    this.state = 0n;
    this.step();
    this.state = (this.state + initialState) & UINT128_MASK;
    this.step();
  }

  /** Returns the next unsigned 64-bit draw, as `random_raw` does. */
  nextUint64(): bigint {
    this.step();
    return outputXslRr(this.state);
  }

  /**
   * Returns the next unsigned 32-bit draw. As in NumPy, each 64-bit draw
   * serves two calls: the low half first, then the high half.
   */
  nextUint32(): number {
    if (this.bufferedUint32 !== null) {
      const buffered = this.bufferedUint32;
      this.bufferedUint32 = null;
      return buffered;
    }
    const draw = this.nextUint64();
    this.bufferedUint32 = Number(draw >> 32n);
    return Number(draw & 0xffffffffn);
  }

  private step(): void {
    this.state = (this.state * PCG_MULTIPLIER + this.increment) & UINT128_MASK;
  }
}

/** XOR-folds the 128-bit state to 64 bits and rotates right by its top six bits. */
function outputXslRr(state: bigint): bigint {
  const rotation = state >> 122n;
  const folded = ((state >> 64n) ^ state) & UINT64_MASK;
  return ((folded >> rotation) | (folded << ((64n - rotation) & 63n))) & UINT64_MASK;
}

/**
 * Draws a uniform integer in `[0, max]` by masked rejection, exactly as
 * NumPy's `random_interval`: 32-bit draws while `max` fits in 32 bits, 64-bit
 * draws above that.
 */
export function randomInterval(bits: Pcg64, max: number): number {
  if (!Number.isSafeInteger(max) || max < 0) {
    throw new Error(`randomInterval needs a non-negative safe integer bound, received ${max}.`);
  }
  if (max === 0) {
    return 0;
  }

  if (max <= UINT32_MASK) {
    // Smear the highest set bit downwards: the smallest all-ones mask that covers max.
    let mask = max;
    for (const shift of [1, 2, 4, 8, 16]) {
      mask = (mask | (mask >>> shift)) >>> 0;
    }
    let value = mask + 1;
    while (value > max) {
      // `>>> 0` keeps the masked value unsigned when the mask has bit 31 set.
      value = (bits.nextUint32() & mask) >>> 0;
    }
    return value;
  }

  const bound = BigInt(max);
  const mask = (1n << BigInt(bound.toString(2).length)) - 1n;
  let value = mask + 1n;
  while (value > bound) {
    value = bits.nextUint64() & mask;
  }
  return Number(value);
}

/**
 * Shuffles `items` in place in the order NumPy's `Generator.shuffle` uses
 * for a Python list: a Fisher–Yates pass from the last position down to 1.
 */
export function numpyShuffle<T>(items: T[], bits: Pcg64): T[] {
  for (let i = items.length - 1; i >= 1; i -= 1) {
    const j = randomInterval(bits, i);
    const swapped = items[i];
    items[i] = items[j];
    items[j] = swapped;
  }
  return items;
}

/**
 * Returns `[0, 1, …, count - 1]` permuted as
 * `idx = list(range(count)); np.random.default_rng(seed).shuffle(idx)`
 * permutes it in NumPy.
 *
 * @param count - number of entries, a non-negative safe integer.
 * @param seed - non-negative integer seed, as passed to `default_rng`.
 * @example
 * numpyShuffledRange(10, 42); // [5, 6, 0, 7, 3, 2, 4, 9, 1, 8]
 */
export function numpyShuffledRange(count: number, seed: number): number[] {
  if (!Number.isSafeInteger(count) || count < 0) {
    throw new Error(`numpyShuffledRange needs a non-negative integer count, received ${count}.`);
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`numpyShuffledRange needs a non-negative integer seed like NumPy's default_rng, received ${seed}.`);
  }

  const indices = Array.from({ length: count }, (_, i) => i);
  return numpyShuffle(indices, new Pcg64(seed));
}
