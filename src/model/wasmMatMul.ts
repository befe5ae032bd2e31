/**
 * Many small 2-D matmuls straight through the WebAssembly backend's kernel.
 *
 * Attention multiplies one (T, hs) block by one (hs, T) block per sequence
 * and head: hundreds of small products per layer. Through `tf.matMul` each
 * product pays for two tensor uploads, two reshapes, an output allocation,
 * engine bookkeeping and a final `concat`, which costs several times the
 * arithmetic at T = 64 (measured with TensorFlow.js 4.22 on a 2-core x86-64
 * machine). Here all blocks are copied into the backend's memory at once.
 * Each block gets a tensor id that points into that copy, and the backend's
 * `BatchMatMul` kernel runs once per block. With a batch of one and no
 * transposes, that kernel uses XNNPACK. The outputs land side by side, so no
 * concat is needed.
 *
 * This reaches into the backend's module, which is not a public API: the
 * factory checks every member it needs and returns null when one is
 * missing, and the engine then keeps using `tf.matMul`.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Products of `count` pairs of (m, k) and (k, n) row-major blocks, returned as (count·m, n). */
export type BlockMatMul = (a: Float32Array, b: Float32Array, count: number, m: number, k: number, n: number) => Float32Array;

/** Members of the WebAssembly backend's Emscripten module that this file calls. */
interface WasmModule {
  _malloc(bytes: number): number;
  _free(pointer: number): void;
  HEAPU8: Uint8Array;
  cwrap(name: string, returns: null, args: string[]): (...args: unknown[]) => void;
  tfjs: {
    registerTensor(id: number, size: number, pointer: number): void;
    disposeData(id: number): void;
  };
}

/** Members of the WebAssembly backend object that this file reads. */
interface WasmBackend {
  wasm: WasmModule;
  dataIdNextNumber: number;
}

const FLOAT_BYTES = 4;

/**
 * Creates a {@link BlockMatMul} that calls the WebAssembly backend's kernel
 * directly. Returns null when the active backend is not `wasm` or lacks one
 * of the members listed above.
 */
export function createWasmBlockMatMul(): BlockMatMul | null {
  if (tf.getBackend() !== 'wasm') return null;
  const backend = tf.backend() as unknown as Partial<WasmBackend>;
  const wasm = backend.wasm;
  if (
    wasm === undefined ||
    typeof backend.dataIdNextNumber !== 'number' ||
    typeof wasm._malloc !== 'function' ||
    typeof wasm._free !== 'function' ||
    typeof wasm.cwrap !== 'function' ||
    !(wasm.HEAPU8 instanceof Uint8Array) ||
    typeof wasm.tfjs?.registerTensor !== 'function' ||
    typeof wasm.tfjs?.disposeData !== 'function'
  ) {
    return null;
  }
  const internals = backend as WasmBackend;

  // The kernel's signature: a id, a shape, a rank, b id, b shape, b rank, transposeA, transposeB, out id.
  const kernel = wasm.cwrap('BatchMatMul', null, ['number', 'array', 'number', 'number', 'array', 'number', 'number', 'number', 'number']);
  const shapeBytes = (shape: number[]): Uint8Array => new Uint8Array(Int32Array.from(shape).buffer);

  return (a, b, count, m, k, n) => {
    const aSize = m * k;
    const bSize = k * n;
    const outSize = m * n;
    if (a.length < count * aSize || b.length < count * bSize) {
      throw new Error(`Internal error: block matmul inputs contain ${a.length} and ${b.length} values, expected ${count * aSize} and ${count * bSize}.`);
    }
    const aShape = shapeBytes([1, m, k]);
    const bShape = shapeBytes([1, k, n]);

    const aPointer = wasm._malloc(count * aSize * FLOAT_BYTES) >>> 0;
    const bPointer = wasm._malloc(count * bSize * FLOAT_BYTES) >>> 0;
    const outPointer = wasm._malloc(count * outSize * FLOAT_BYTES) >>> 0;
    try {
      // Views are made after every malloc: growing the memory detaches older ones.
      new Float32Array(wasm.HEAPU8.buffer, aPointer, count * aSize).set(a.subarray(0, count * aSize));
      new Float32Array(wasm.HEAPU8.buffer, bPointer, count * bSize).set(b.subarray(0, count * bSize));

      for (let c = 0; c < count; c++) {
        // Fresh ids from the backend's own counter never collide with its tensors.
        const aId = internals.dataIdNextNumber++;
        const bId = internals.dataIdNextNumber++;
        const outId = internals.dataIdNextNumber++;
        wasm.tfjs.registerTensor(aId, aSize, aPointer + c * aSize * FLOAT_BYTES);
        wasm.tfjs.registerTensor(bId, bSize, bPointer + c * bSize * FLOAT_BYTES);
        wasm.tfjs.registerTensor(outId, outSize, outPointer + c * outSize * FLOAT_BYTES);
        kernel(aId, aShape, 3, bId, bShape, 3, 0, 0, outId);

        // Disposing b's id also deletes the XNNPACK operator that the kernel caches for it
        // (a test checks that the heap stays flat). The memory belongs to the buffers freed below.
        wasm.tfjs.disposeData(aId);
        wasm.tfjs.disposeData(bId);
        wasm.tfjs.disposeData(outId);
      }
      return new Float32Array(wasm.HEAPU8.buffer, outPointer, count * outSize).slice();
    } finally {
      wasm._free(outPointer);
      wasm._free(bPointer);
      wasm._free(aPointer);
    }
  };
}
