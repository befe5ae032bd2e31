/**
 * Seeded pseudo-random numbers for everything the library draws: weight
 * initialisation, dropout masks, batch order and sampling.
 *
 * The generator is xoshiro128** (Blackman and Vigna, 2018) seeded through
 * splitmix32, so a seed fully determines every stream and the four-word
 * state can be saved in a checkpoint and restored exactly.
 */

/** Serialisable generator state: four unsigned 32-bit words. */
export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * A small, fast, seedable generator of uniform, normal and integer draws.
 *
 * @example
 * const rng = new Rng(42);
 * rng.uniform(); // in [0, 1)
 */
export class Rng {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | null = null;

  /**
   * @param seed - any integer; equal seeds give equal streams.
   */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) {
      throw new Error(`Rng seed must be a finite number, received ${seed}.`);
    }
    const next = splitmix32(Math.trunc(seed) ^ Math.trunc(seed / 2 ** 32));
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) {
      this.s0 = 1;
    }
  }

  /** Restores a generator from a state returned by {@link Rng.getState}. */
  static fromState(state: RngState): Rng {
    const rng = new Rng(0);
    rng.setState(state);
    return rng;
  }

  /** Returns the current state; restoring it replays the same stream. */
  getState(): RngState {
    return [this.s0, this.s1, this.s2, this.s3];
  }

  /** Replaces the current state with one returned by {@link Rng.getState}. */
  setState(state: RngState): void {
    if (state.length !== 4 || state.some((word) => !Number.isInteger(word) || word < 0 || word > 0xffffffff)) {
      throw new Error(`Rng state must be four unsigned 32-bit integers, received ${JSON.stringify(state)}.`);
    }
    [this.s0, this.s1, this.s2, this.s3] = state;
    this.spareNormal = null;
  }

  /** Returns the next unsigned 32-bit integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    this.s0 >>>= 0;
    this.s1 >>>= 0;
    this.s2 >>>= 0;
    return result;
  }

  /** Returns a uniform draw in [0, 1) with 32 bits of resolution. */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Returns a uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0 || n > 0x100000000) {
      throw new Error(`Rng.int bound must be an integer in [1, 2^32], received ${n}.`);
    }
    const limit = 0x100000000 - (0x100000000 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Returns a standard normal draw (Marsaglia's polar method). */
  normal(): number {
    if (this.spareNormal !== null) {
      const spare = this.spareNormal;
      this.spareNormal = null;
      return spare;
    }
    for (;;) {
      const u = 2 * this.uniform() - 1;
      const v = 2 * this.uniform() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) {
        const factor = Math.sqrt((-2 * Math.log(s)) / s);
        this.spareNormal = v * factor;
        return u * factor;
      }
    }
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<
    T extends {
      /** Number of items. */
      length: number;
      [index: number]: unknown;
    },
  >(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
