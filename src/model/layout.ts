/**
 * Head and matrix rearrangements done in JavaScript on Float32Arrays.
 *
 * On the WebAssembly backend, tensors live in the same memory as
 * JavaScript, so reading a tensor back costs a copy; a plain loop then
 * rearranges data several times faster than the backend's Transpose and
 * Slice kernels, which are slow for these shapes (measured with
 * TensorFlow.js 4.22 on a 2-core x86-64 machine).
 *
 * Notation: B batch, T time, H heads, hs head size, d = H·hs.
 */

/** Per-head views of one layer's fused q/k/v projection. */
export interface HeadArrays {
  /** Queries scaled by 1/√hs, (B, H, T, hs). */
  q: Float32Array;
  /** Keys, (B, H, T, hs). */
  k: Float32Array;
  /** Keys transposed per head, (B, H, hs, T). */
  kT: Float32Array;
  /** Values, (B, H, T, hs). */
  v: Float32Array;
  /** Values transposed per head, (B, H, hs, T). */
  vT: Float32Array;
}

/**
 * Splits a fused projection (B, T, 3, H, hs) into per-head queries, keys and
 * values, scaling the queries by `scale`.
 */
export function splitHeads(qkv: Float32Array, B: number, T: number, H: number, hs: number, scale: number): HeadArrays {
  const size = B * H * T * hs;
  const q = new Float32Array(size);
  const k = new Float32Array(size);
  const kT = new Float32Array(size);
  const v = new Float32Array(size);
  const vT = new Float32Array(size);
  const d = H * hs;

  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const row = (b * T + t) * 3 * d;
      for (let h = 0; h < H; h++) {
        const head = (b * H + h) * T * hs;
        const qSrc = row + h * hs;
        const kSrc = row + d + h * hs;
        const vSrc = row + 2 * d + h * hs;
        const dst = head + t * hs;
        for (let i = 0; i < hs; i++) {
          q[dst + i] = qkv[qSrc + i] * scale;
          const kValue = qkv[kSrc + i];
          const vValue = qkv[vSrc + i];
          k[dst + i] = kValue;
          v[dst + i] = vValue;
          kT[head + i * T + t] = kValue;
          vT[head + i * T + t] = vValue;
        }
      }
    }
  }
  return { q, k, kT, v, vT };
}

/** Rearranges (B, H, T, hs) into (B, T, H, hs), i.e. rows of width d. */
export function mergeHeads(x: Float32Array, B: number, T: number, H: number, hs: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const src = (b * H + h) * T * hs;
      for (let t = 0; t < T; t++) {
        const dst = ((b * T + t) * H + h) * hs;
        out.set(x.subarray(src + t * hs, src + (t + 1) * hs), dst);
      }
    }
  }
  return out;
}

/** Rearranges rows of width d, (B, T, H, hs), into (B, H, T, hs). */
export function splitRowsToHeads(x: Float32Array, B: number, T: number, H: number, hs: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const dst = (b * H + h) * T * hs;
      for (let t = 0; t < T; t++) {
        const src = ((b * T + t) * H + h) * hs;
        out.set(x.subarray(src, src + hs), dst + t * hs);
      }
    }
  }
  return out;
}

/**
 * Packs per-head gradients of q (already scaled back), k and v, each
 * (B, H, T, hs), into the fused layout (B, T, 3, H, hs).
 */
export function mergeQkv(dq: Float32Array, dk: Float32Array, dv: Float32Array, B: number, T: number, H: number, hs: number): Float32Array {
  const d = H * hs;
  const out = new Float32Array(B * T * 3 * d);
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      const head = (b * H + h) * T * hs;
      for (let t = 0; t < T; t++) {
        const src = head + t * hs;
        const row = (b * T + t) * 3 * d + h * hs;
        out.set(dq.subarray(src, src + hs), row);
        out.set(dk.subarray(src, src + hs), row + d);
        out.set(dv.subarray(src, src + hs), row + 2 * d);
      }
    }
  }
  return out;
}

/** Transposes each of `count` row-major (rows × cols) blocks into (cols × rows). */
export function transposeBlocks(x: Float32Array, count: number, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  const block = rows * cols;
  for (let c = 0; c < count; c++) {
    const base = c * block;
    for (let r = 0; r < rows; r++) {
      const src = base + r * cols;
      for (let j = 0; j < cols; j++) {
        out[base + j * rows + r] = x[src + j];
      }
    }
  }
  return out;
}
