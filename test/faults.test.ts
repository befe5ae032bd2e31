import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

import { generateSyntheticCorpus } from '../src/data/synthetic';
import { resolveModelConfig } from '../src/model/config';
import type { Checkpoint } from '../src/run/checkpoint';
import { NonFiniteError, trainModel, type TrainingOptions } from '../src/train/trainer';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

const corpus = generateSyntheticCorpus({ sequences: 30, seed: 9 });
const config = resolveModelConfig({ vocabSize: 48, maxSeqLen: 16, dModel: 16, nHeads: 2, nLayers: 1, dFF: 32 });
const options: Partial<TrainingOptions> = {
  epochs: 3,
  batchSize: 8,
  workers: 1,
  window: { seqLen: 16, stride: 16, mode: 'pad', randomOffset: false },
  valStride: 16,
};

describe('numerical faults', () => {
  test('a non-finite loss stops training and names the step', async () => {
    const checkpoints: Checkpoint[] = [];
    const first = await trainModel(
      { config, train: corpus.sequences.slice(0, 24), val: corpus.sequences.slice(24), options: { ...options, epochs: 1 } },
      { onCheckpoint: (c) => checkpoints.push(c) },
    );
    const poisoned: Checkpoint = { ...first.checkpoint, params: first.checkpoint.params.slice() };
    poisoned.params[5] = Number.NaN;
    const before = tf.memory().numTensors;

    let caught: unknown;
    try {
      await trainModel(
        { config, train: corpus.sequences.slice(0, 24), val: corpus.sequences.slice(24), options, resume: poisoned },
        { onCheckpoint: (c) => checkpoints.push(c) },
      );
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(NonFiniteError);
    const fault = caught as NonFiniteError;
    expect(fault.step).toBe(first.checkpoint.state.globalStep + 1);
    expect(fault.epoch).toBe(2);
    expect(fault.batchIndex).toBe(0);
    expect(fault.message).toMatch(/non-finite loss at step \d+ \(epoch 2, batch 0\)/);
    // No checkpoint was taken after the fault, so the last one on disk is the last good one.
    expect(checkpoints).toHaveLength(1);
    expect(tf.memory().numTensors).toBe(before);
  });

  test('invalid training options name the option', async () => {
    await expect(trainModel({ config, train: corpus.sequences, val: corpus.sequences, options: { lr: -1 } })).rejects.toThrow(
      'lr must be a positive number, received -1',
    );
    await expect(
      trainModel({ config, train: corpus.sequences, val: corpus.sequences, options: { window: { seqLen: 32, stride: 4, mode: 'pad', randomOffset: false } } }),
    ).rejects.toThrow("window.seqLen 32 exceeds the model's maxSeqLen 16");
  });
});
