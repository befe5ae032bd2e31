import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

import { loadTokens } from '../src/data/load';
import { splitSequences } from '../src/data/split';
import { computeBaselines } from '../src/eval/baselines';
import { evaluatePerToken } from '../src/eval/evaluate';
import { resolveModelConfig } from '../src/model/config';
import { ModelEngine } from '../src/model/engine';
import { trainModel } from '../src/train/trainer';
import { corpusPath } from './helpers/corpora';

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

describe('training on real HuBERT units', () => {
  test('beats the Kneser-Ney bigram per token', async () => {
    const corpus = await loadTokens(corpusPath('vctk-hubert100', 'tokens', 'k_means'), { type: 'kmeans', log: () => undefined });
    const split = splitSequences(corpus.sequences.length);
    const train = split.trainIndices.map((i) => corpus.sequences[i].ids);
    const val = split.valIndices.slice(0, 100).map((i) => corpus.sequences[i].ids);
    const config = resolveModelConfig({ vocabSize: corpus.vocabSize, maxSeqLen: 64, dModel: 64, nHeads: 2, nLayers: 2, dFF: 128 });
    const before = tf.memory().numTensors;

    const result = await trainModel({
      config,
      train,
      val,
      options: {
        epochs: 2,
        batchSize: 32,
        lr: 3e-3,
        window: { seqLen: 64, stride: 64, mode: 'pad', randomOffset: true },
        valStride: 32,
        schedule: 'cosine',
        warmupSteps: 10,
      },
    });
    expect(tf.memory().numTensors).toBe(before);
    expect(result.history.epochs).toHaveLength(2);

    const engine = new ModelEngine(config, result.layout);
    engine.setWeights(result.params);
    const metrics = await evaluatePerToken(engine, val, { seqLen: 64 });
    engine.dispose();
    const baselines = computeBaselines(train, val, corpus.vocabSize);
    console.log(`per-token CE ${metrics.loss.toFixed(3)} vs KN bigram ${baselines.bigramCE.toFixed(3)}; history ${JSON.stringify(result.history.epochs)}`);
    expect(metrics.tokens).toBe(baselines.tokens);
    expect(metrics.loss).toBeLessThan(baselines.bigramCE);
  });
});
