import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

import { referenceGradients, referenceVariables } from '../bench/reference';
import { resolveModelConfig } from '../src/model/config';
import { ModelEngine, type AttentionStrategy, type BatchInput } from '../src/model/engine';
import { countParameters, initParams } from '../src/model/params';
import { Rng } from '../src/random';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

function randomBatch(rng: Rng, B: number, T: number, V: number, padFrom?: number): BatchInput {
  const inputs = new Int32Array(B * T);
  const targets = new Int32Array(B * T);
  for (let n = 0; n < B * T; n++) {
    inputs[n] = rng.int(V);
    targets[n] = padFrom !== undefined && n % T >= padFrom && n >= T ? -1 : rng.int(V);
  }
  return { inputs, targets, batchSize: B, seqLen: T };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('parameter count', () => {
  test('matches PyTorch for the default size', () => {
    expect(countParameters(resolveModelConfig({ vocabSize: 128, maxSeqLen: 64 }))).toBe(2_190_848);
  });
});

describe.each<[AttentionStrategy, number, boolean]>([
  ['split', 0, true],
  ['split', 0, false],
  ['batched', 0, false],
  ['split', 0.2, true],
])('engine gradients (%s attention, dropout %p, direct kernels %p)', (attention, dropout, directKernels) => {
  test('equal autodiff of the reference model', () => {
    const config = resolveModelConfig({ vocabSize: 11, maxSeqLen: 9, dModel: 16, nHeads: 2, nLayers: 2, dFF: 24, dropout });
    const { layout, values } = initParams(config, 3, { identicalLayers: false });
    const batch = randomBatch(new Rng(5), 3, 7, 11, 5);
    const engine = new ModelEngine(config, layout, { attention, directKernels });
    expect(engine.usesDirectKernels).toBe(directKernels);
    engine.setWeights(values);
    const vars = referenceVariables(layout, values);

    const fast = engine.forwardBackward(batch, { seed: 9, rowOffset: 0 });
    const ref = referenceGradients(config, layout, vars, batch, { seed: 9, rowOffset: 0 });

    // The first pass also creates the engine's cached causal mask; later passes must add nothing.
    const before = tf.memory().numTensors;
    engine.forwardBackward(batch, { seed: 9, rowOffset: 0 });
    referenceGradients(config, layout, vars, batch, { seed: 9, rowOffset: 0 });
    expect(tf.memory().numTensors).toBe(before);
    expect(fast.tokens).toBe(3 * 7 - 2 * 2);
    expect(Math.abs(fast.lossSum - ref.lossSum)).toBeLessThan(1e-4 * Math.max(1, Math.abs(ref.lossSum)));
    for (const entry of layout.entries) {
      const a = fast.grads.subarray(entry.offset, entry.offset + entry.size);
      const b = ref.grads.subarray(entry.offset, entry.offset + entry.size);
      const diff = maxAbsDiff(a, b);
      if (diff > 1e-4) throw new Error(`gradient of ${entry.name} differs by ${diff}`);
    }
    engine.dispose();
    for (const v of vars.values()) v.dispose();
  });
});

describe('direct attention kernels', () => {
  test('keep the WebAssembly heap flat', () => {
    const config = resolveModelConfig({ vocabSize: 32, maxSeqLen: 64, dModel: 64, nHeads: 4, nLayers: 1, dFF: 64, dropout: 0 });
    const { layout, values } = initParams(config, 1);
    const engine = new ModelEngine(config, layout);
    engine.setWeights(values);
    const batch = randomBatch(new Rng(2), 16, 64, 32);
    const heapBytes = (): number => (tf.backend() as unknown as { wasm: { HEAPU8: Uint8Array } }).wasm.HEAPU8.length;

    // Each step makes 384 per-head products. An operator left behind by each one keeps at
    // least 4 KiB of packed weights, so a leak would grow the heap by over 70 MiB in 50 steps.
    for (let step = 0; step < 3; step++) engine.forwardBackward(batch, { seed: step, rowOffset: 0 });
    const before = heapBytes();
    for (let step = 0; step < 50; step++) engine.forwardBackward(batch, { seed: step, rowOffset: 0 });

    expect(engine.usesDirectKernels).toBe(true);
    expect(heapBytes()).toBe(before);
    engine.dispose();
  });
});
