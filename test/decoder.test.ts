import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

import {
  KvCacheDecoder,
  RecomputeDecoder,
  SlidingContexts,
  checkPromptIds,
  createDecoder,
  defaultSlide,
  resolveSlide,
  type TokenDecoder,
} from '../src/generate/decoder';
import { resolveModelConfig, type ModelConfig } from '../src/model/config';
import { ModelEngine } from '../src/model/engine';
import { initParams } from '../src/model/params';
import { Rng } from '../src/random';

const CONFIG: ModelConfig = resolveModelConfig({ vocabSize: 13, maxSeqLen: 8, dModel: 16, nHeads: 2, nLayers: 2, dFF: 24, dropout: 0.1 });

let engine: ModelEngine;

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  const { layout, values } = initParams(CONFIG, 7, { identicalLayers: false });
  engine = new ModelEngine(CONFIG, layout);
  engine.setWeights(values);
});

afterAll(() => {
  engine.dispose();
});

function softmaxRows(logits: Float32Array, V: number): Float64Array {
  const out = new Float64Array(logits.length);
  for (let base = 0; base < logits.length; base += V) {
    let max = Number.NEGATIVE_INFINITY;
    for (let v = 0; v < V; v++) max = Math.max(max, logits[base + v]);
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[base + v] - max);
    for (let v = 0; v < V; v++) out[base + v] = Math.exp(logits[base + v] - max) / sum;
  }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i] - b[i]));
  return worst;
}

function randomIds(rng: Rng, length: number, V: number): Int32Array {
  return Int32Array.from({ length }, () => rng.int(V));
}

/** Logits of the last position of one context, computed by the engine alone. */
function lastLogits(context: Int32Array): Float32Array {
  const T = context.length;
  const logits = engine.logits({ inputs: context, targets: new Int32Array(T).fill(-1), batchSize: 1, seqLen: T });
  return logits.subarray((T - 1) * CONFIG.vocabSize);
}

describe('slide option', () => {
  test('default is half the context', () => {
    expect(defaultSlide(64)).toBe(32);
    expect(defaultSlide(9)).toBe(4);
    expect(defaultSlide(1)).toBe(1);
    expect(resolveSlide(undefined, 8)).toBe(4);
    expect(resolveSlide(8, 8)).toBe(8);
  });

  test.each([0, -1, 1.5, 9, Number.NaN])('rejects slide %p', (slide) => {
    expect(() => resolveSlide(slide, 8)).toThrow(/Invalid slide .*expected an integer in \[1, 8\]/);
  });
});

describe('SlidingContexts', () => {
  test('long prompt keeps its last maxSeqLen tokens', () => {
    const contexts = new SlidingContexts(
      [
        [1, 2, 3, 4, 5, 6],
        [7, 8],
      ],
      4,
      2,
    );
    expect(Array.from(contexts.context(0))).toEqual([3, 4, 5, 6]);
    expect(Array.from(contexts.context(1))).toEqual([7, 8]);
  });

  test('full context drops slide tokens', () => {
    const contexts = new SlidingContexts([[1, 2, 3]], 4, 2);
    expect(contexts.append(0, 4)).toBe(false);
    expect(Array.from(contexts.context(0))).toEqual([1, 2, 3, 4]);

    // Full: keep the last 4 − 2 = 2 tokens, then add the new one.
    expect(contexts.append(0, 5)).toBe(true);
    expect(Array.from(contexts.context(0))).toEqual([3, 4, 5]);
    expect(contexts.append(0, 6)).toBe(false);
    expect(contexts.append(0, 7)).toBe(true);
    expect(Array.from(contexts.context(0))).toEqual([5, 6, 7]);
  });

  test('slide 1 keeps the last maxSeqLen tokens', () => {
    const contexts = new SlidingContexts([[1, 2, 3, 4]], 4, 1);
    for (let token = 5; token < 12; token++) {
      expect(contexts.append(0, token)).toBe(true);
      expect(Array.from(contexts.context(0))).toEqual([token - 3, token - 2, token - 1, token]);
    }
  });

  test('slide maxSeqLen restarts from the new token', () => {
    const contexts = new SlidingContexts([[1, 2, 3, 4]], 4, 4);
    expect(contexts.append(0, 9)).toBe(true);
    expect(Array.from(contexts.context(0))).toEqual([9]);
  });
});

describe('checkPromptIds', () => {
  test('accepts ids in the vocabulary', () => {
    expect(() => checkPromptIds([0, 12, 5], 13, 'prompt')).not.toThrow();
  });

  test('rejects empty prompt', () => {
    expect(() => checkPromptIds([], 13, 'prompt 0')).toThrow('Invalid prompt 0: it is empty');
  });

  test('names the invalid id and its position', () => {
    expect(() => checkPromptIds([1, 13], 13, 'prompt 0')).toThrow("token id 13 at position 1 is outside the model's vocabulary [0, 12]");
    expect(() => checkPromptIds([-1], 13, 'p')).toThrow('token id -1 at position 0');
    expect(() => checkPromptIds([2, 0.5], 13, 'p')).toThrow('token id 0.5 at position 1');
  });
});

describe.each([1, 4])('KV cache against recomputation (slide %p)', (slide) => {
  test('next-token distributions match at every step', () => {
    const rng = new Rng(11 + slide);
    const V = CONFIG.vocabSize;
    // Prompt lengths cover 1 token, a full window and a prompt longer than the window,
    // and the last row repeats the second prompt, as several samples of one prompt do.
    const prompts = [1, 3, 8, 11].map((length) => randomIds(rng, length, V));
    prompts.push(prompts[1].slice());
    const cached = new KvCacheDecoder(engine, { slide });
    const recomputed = new RecomputeDecoder(engine, { slide });

    let fast = cached.start(prompts);
    let slow = recomputed.start(prompts);
    let worst = maxAbsDiff(softmaxRows(fast, V), softmaxRows(slow, V));

    for (let step = 0; step < 30; step++) {
      const tokens = randomIds(rng, prompts.length, V);
      fast = cached.append(tokens);
      slow = recomputed.append(tokens);
      for (let row = 0; row < prompts.length; row++) {
        expect(Array.from(cached.context(row))).toEqual(Array.from(recomputed.context(row)));
      }
      worst = Math.max(worst, maxAbsDiff(softmaxRows(fast, V), softmaxRows(slow, V)));
      expect(worst).toBeLessThan(1e-4);
    }
    expect(worst).toBeLessThan(1e-4);
  });

  test('recomputation equals the engine on each context', () => {
    const rng = new Rng(3);
    const V = CONFIG.vocabSize;
    const prompts = [2, 9].map((length) => randomIds(rng, length, V));
    const decoder = new RecomputeDecoder(engine, { slide });

    let logits = decoder.start(prompts);
    for (let step = 0; step < 12; step++) {
      for (let row = 0; row < prompts.length; row++) {
        const expected = lastLogits(decoder.context(row).slice());
        expect(maxAbsDiff(logits.subarray(row * V, (row + 1) * V), expected)).toBe(0);
      }
      logits = decoder.append(randomIds(rng, prompts.length, V));
    }
  });
});

describe('KV cache with head size 9', () => {
  test('matches recomputation', () => {
    // hs = 18 / 2 = 9 exercises the attention loops' remainder after groups of 4.
    const config = resolveModelConfig({ vocabSize: 11, maxSeqLen: 6, dModel: 18, nHeads: 2, nLayers: 1, dFF: 10 });
    const { layout, values } = initParams(config, 2, { identicalLayers: false });
    const odd = new ModelEngine(config, layout);
    odd.setWeights(values);
    const rng = new Rng(8);
    const prompts = [2, 5].map((length) => randomIds(rng, length, 11));
    const cached = new KvCacheDecoder(odd, { slide: 2 });
    const recomputed = new RecomputeDecoder(odd, { slide: 2 });

    try {
      let worst = maxAbsDiff(softmaxRows(cached.start(prompts), 11), softmaxRows(recomputed.start(prompts), 11));
      for (let step = 0; step < 12; step++) {
        const tokens = randomIds(rng, 2, 11);
        worst = Math.max(worst, maxAbsDiff(softmaxRows(cached.append(tokens), 11), softmaxRows(recomputed.append(tokens), 11)));
      }
      expect(worst).toBeLessThan(1e-4);
    } finally {
      odd.dispose();
    }
  });
});

describe('KvCacheDecoder', () => {
  test('restart replaces the earlier rows', () => {
    const V = CONFIG.vocabSize;
    const decoder = new KvCacheDecoder(engine);
    decoder.start([[1, 2, 3], [4]]);
    decoder.append([5, 6]);

    const logits = decoder.start([[9, 9]]);
    expect(logits.length).toBe(V);
    expect(maxAbsDiff(softmaxRows(logits, V), softmaxRows(lastLogits(Int32Array.from([9, 9])), V))).toBeLessThan(1e-4);
  });

  test('leaves no tensors behind', () => {
    const decoder = new KvCacheDecoder(engine, { slide: 3 });
    decoder.start([[1], [2, 3, 4]]);
    const before = tf.memory().numTensors;
    for (let step = 0; step < 20; step++) decoder.append([step % 13, (step * 5) % 13]);
    decoder.start([[1, 2]]);
    expect(tf.memory().numTensors).toBe(before);
  });
});

describe.each<[string, (engine: ModelEngine) => TokenDecoder]>([
  ['KvCacheDecoder', (model) => new KvCacheDecoder(model)],
  ['RecomputeDecoder', (model) => new RecomputeDecoder(model)],
])('%s input checks', (_name, make) => {
  test('rejects out-of-vocabulary prompt', () => {
    expect(() => make(engine).start([[1], [3, 13]])).toThrow("Invalid prompt of row 1: token id 13 at position 1 is outside the model's vocabulary [0, 12].");
  });

  test('rejects empty prompt list and empty prompt', () => {
    expect(() => make(engine).start([])).toThrow('the list is empty');
    expect(() => make(engine).start([[1], []])).toThrow('Invalid prompt of row 1: it is empty');
  });

  test('rejects append before start', () => {
    expect(() => make(engine).append([1])).toThrow('call start() with the prompts first');
  });

  test('rejects wrong token count and invalid token', () => {
    const decoder = make(engine);
    decoder.start([[1], [2]]);
    expect(() => decoder.append([1])).toThrow('Expected one token per row (2), received 1.');
    expect(() => decoder.append([1, 20])).toThrow("Token id 20 for row 1 is outside the model's vocabulary [0, 12].");
  });
});

describe('createDecoder', () => {
  test('selects the decoder by useCache', () => {
    expect(createDecoder(engine)).toBeInstanceOf(KvCacheDecoder);
    expect(createDecoder(engine, { useCache: false })).toBeInstanceOf(RecomputeDecoder);
    expect(createDecoder(engine, { slide: 1 }).slide).toBe(1);
    expect(createDecoder(engine, { useCache: false }).slide).toBe(4);
  });
});
