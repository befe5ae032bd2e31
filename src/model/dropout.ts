/**
 * Dropout masks drawn in JavaScript.
 *
 * Each batch row gets its own stream, seeded from the step's dropout seed,
 * the layer, the mask kind and the row's index in the global batch. A batch
 * split across data-parallel workers therefore sees exactly the masks that
 * one worker would draw for the whole batch.
 */

/** Dropout site of a mask within a layer. */
export enum DropoutSite {
  AttentionWeights = 0,
  AttentionOutput = 1,
  Hidden = 2,
  FeedForwardOutput = 3,
}

/** The dropout draw of one training step. */
export interface DropoutSpec {
  /** Seed of the step's masks (an unsigned 32-bit integer). */
  seed: number;
  /** Index of this batch's first row within the global batch. */
  rowOffset: number;
}

function mix(a: number, b: number): number {
  let h = Math.imul(a ^ Math.imul(b, 0x9e3779b1), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Returns an inverted-dropout mask for `rows` batch rows of `rowSize`
 * entries each: an entry is 0 with probability `p`, else 1/(1 − p), so the
 * expected activation is unchanged.
 *
 * Each 32-bit draw of an inlined xorshift128 stream decides two entries from
 * its 16-bit halves, so `p` is rounded to a multiple of 2^-16 (0.1 becomes
 * 0.100006) and the scale uses the rounded value. Masks hold millions of
 * entries per step, which is why the stream is inlined rather than drawn
 * through {@link Rng}.
 */
export function dropoutMask(spec: DropoutSpec, layer: number, site: DropoutSite, rows: number, rowSize: number, p: number): Float32Array {
  const mask = new Float32Array(rows * rowSize);
  const threshold = Math.round(p * 65536);
  if (threshold <= 0) {
    mask.fill(1);
    return mask;
  }
  const scale = 65536 / (65536 - threshold);

  for (let r = 0; r < rows; r++) {
    const key = mix(mix(mix(spec.seed >>> 0, layer), site), spec.rowOffset + r);
    let x = mix(key, 1) | 0;
    let y = mix(key, 2) | 0;
    let z = mix(key, 3) | 0;
    let w = mix(key, 4) | 1;
    const end = (r + 1) * rowSize;
    for (let i = r * rowSize; i < end; i += 2) {
      const t = x ^ (x << 11);
      x = y;
      y = z;
      z = w;
      w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
      mask[i] = (w & 0xffff) >= threshold ? scale : 0;
      if (i + 1 < end) mask[i + 1] = w >>> 16 >= threshold ? scale : 0;
    }
  }
  return mask;
}
