import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

import { generateSyntheticCorpus } from '../src/data/synthetic';
import { resolveModelConfig } from '../src/model/config';
import { ModelEngine } from '../src/model/engine';
import { initParams } from '../src/model/params';
import { Rng } from '../src/random';
import { DataParallel, sliceRows } from '../src/train/parallel';
import { trainModel, type TrainingOptions } from '../src/train/trainer';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

const config = resolveModelConfig({ vocabSize: 48, maxSeqLen: 16, dModel: 32, nHeads: 4, nLayers: 2, dFF: 64, dropout: 0.1 });

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

describe('data-parallel training', () => {
  test('row slices cover the batch in order', () => {
    const batch = { inputs: Int32Array.from({ length: 5 * 2 }, (_, i) => i), targets: new Int32Array(10), batchSize: 5, seqLen: 2 };
    const slices = sliceRows(batch, 2);
    expect(slices.map((s) => s.rowOffset)).toEqual([0, 3]);
    expect(slices.map((s) => s.batch.batchSize)).toEqual([3, 2]);
    expect(Array.from(slices[1].batch.inputs)).toEqual([6, 7, 8, 9]);
  });

  test('two threads give the gradient of one', async () => {
    const { layout, values } = initParams(config, 7);
    const rng = new Rng(3);
    const batch = {
      inputs: Int32Array.from({ length: 12 * 16 }, () => rng.int(48)),
      targets: Int32Array.from({ length: 12 * 16 }, (_, n) => (n % 16 > 12 ? -1 : rng.int(48))),
      batchSize: 12,
      seqLen: 16,
    };
    const engine = new ModelEngine(config, layout);
    engine.setWeights(values);
    const single = engine.forwardBackward(batch, { seed: 5, rowOffset: 0 });
    engine.dispose();

    const pool = await DataParallel.create(config, layout, values, { workers: 2 });
    const parallel = await pool.gradients(batch, 5);
    await pool.close();

    expect(parallel.tokens).toBe(single.tokens);
    expect(Math.abs(parallel.lossSum - single.lossSum)).toBeLessThan(1e-3);
    expect(maxAbsDiff(parallel.grads, single.grads)).toBeLessThan(1e-4);
  });

  test('training with two threads matches one thread', async () => {
    const corpus = generateSyntheticCorpus({ sequences: 40, seed: 11 });
    const options: Partial<TrainingOptions> = {
      epochs: 1,
      batchSize: 16,
      lr: 1e-3,
      maxSteps: 8,
      window: { seqLen: 16, stride: 16, mode: 'pad', randomOffset: true },
      valStride: 16,
    };
    const train = corpus.sequences.slice(0, 32);
    const val = corpus.sequences.slice(32);
    const one = await trainModel({ config, train, val, options: { ...options, workers: 1 } });
    const two = await trainModel({ config, train, val, options: { ...options, workers: 2 } });

    expect(one.history.steps).toHaveLength(8);
    // Losses agree to float rounding at every step.
    expect(
      maxAbsDiff(
        one.history.steps.map((s) => s.loss),
        two.history.steps.map((s) => s.loss),
      ),
    ).toBeLessThan(1e-4);
    // Weights agree more loosely: AdamW divides each gradient by its own running
    // scale, so rounding noise in a near-zero gradient can move that weight by up
    // to 2·lr per step in either direction (here 8 steps of lr 1e-3).
    expect(maxAbsDiff(one.checkpoint.params, two.checkpoint.params)).toBeLessThan(1e-3);
  });
});
