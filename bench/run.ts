/**
 * Speed benchmark of the seed-sized model on the current backend.
 *
 * In one process it measures training tokens/s of the library (one thread
 * and data-parallel) and of the straightforward reference implementation in
 * reference.ts, generation tokens/s with the KV cache and with full
 * recomputation, peak RSS and the tensor count before and after. It prints
 * a table of ratios and writes the numbers as JSON.
 *
 * Usage: npm run bench [-- --steps N --reference-steps N --out FILE]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs';

import { selectBackend } from '../src/backend.js';
import { generate } from '../src/generate/generate.js';
import { resolveModelConfig } from '../src/model/config.js';
import { ModelEngine, type BatchInput } from '../src/model/engine.js';
import { initParams } from '../src/model/params.js';
import { Rng } from '../src/random.js';
import { AdamW, clipGradNorm } from '../src/train/adamw.js';
import { DataParallel } from '../src/train/parallel.js';
import { referenceLoss, referenceVariables } from './reference.js';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '6' },
    'reference-steps': { type: 'string', default: '1' },
    'new-tokens': { type: 'string', default: '256' },
    out: { type: 'string', default: path.join('build', 'bench', 'results.json') },
  },
});
const STEPS = Number(values.steps);
const REFERENCE_STEPS = Number(values['reference-steps']);
const NEW_TOKENS = Number(values['new-tokens']);

const B = 64;
const T = 64;
const config = resolveModelConfig({ vocabSize: 128, maxSeqLen: T, dModel: 256, nHeads: 4, nLayers: 4, dFF: 512, dropout: 0.1 });

function randomBatch(seed: number): BatchInput {
  const rng = new Rng(seed);
  const inputs = Int32Array.from({ length: B * T }, () => rng.int(config.vocabSize));
  const targets = Int32Array.from({ length: B * T }, () => rng.int(config.vocabSize));
  return { inputs, targets, batchSize: B, seqLen: T };
}

/** Runs `step` once to warm up, then `count` times, and returns mean seconds per call. */
async function timeSteps(count: number, step: (i: number) => Promise<void> | void): Promise<number> {
  await step(-1);
  const started = performance.now();
  for (let i = 0; i < count; i++) await step(i);
  return (performance.now() - started) / 1000 / count;
}

async function libraryTraining(workers: number): Promise<number> {
  const { layout, values: initial } = initParams(config, 1);
  const pool = await DataParallel.create(config, layout, initial, { workers });
  const adam = new AdamW(layout.size);
  const batch = randomBatch(2);
  try {
    return await timeSteps(STEPS, async (i) => {
      const result = await pool.gradients(batch, i + 10);
      for (let j = 0; j < result.grads.length; j++) result.grads[j] /= result.tokens;
      clipGradNorm(result.grads, 1);
      adam.update(pool.params, result.grads);
      pool.weightsChanged();
    });
  } finally {
    await pool.close();
  }
}

async function referenceTraining(): Promise<number> {
  const { layout, values: initial } = initParams(config, 1);
  const vars = referenceVariables(layout, initial);
  const optimizer = tf.train.adam(3e-4);
  const batch = randomBatch(2);
  const tokens = B * T;
  const seconds = await timeSteps(REFERENCE_STEPS, (i) => {
    const cost = optimizer.minimize(() => tf.div<tf.Scalar>(referenceLoss(config, vars, batch, { seed: i + 10, rowOffset: 0 }), tokens), true);
    cost?.dataSync();
    cost?.dispose();
  });
  optimizer.dispose();
  for (const variable of vars.values()) variable.dispose();
  return seconds;
}

async function generationSpeed(useCache: boolean, slide: number | undefined): Promise<number> {
  const { layout, values: initial } = initParams(config, 1);
  const engine = new ModelEngine(config, layout);
  engine.setWeights(initial);
  const prompt = { ids: randomBatch(3).inputs.slice(0, T), source: 'random' };
  try {
    // A full-length warm-up lets V8 optimise the hot loops before the timed call.
    await generate(engine, [prompt], { maxNewTokens: NEW_TOKENS, useCache, slide, seed: 1 });
    const result = await generate(engine, [prompt], { maxNewTokens: NEW_TOKENS, useCache, slide, seed: 1 });
    return result.tokensPerSecond;
  } finally {
    engine.dispose();
  }
}

async function main(): Promise<void> {
  const backend = await selectBackend();
  const tensorsBefore = tf.memory().numTensors;
  const tokensPerStep = B * T;
  console.error(
    `Benchmark: d_model ${config.dModel}, ${config.nHeads} heads, ${config.nLayers} layers, feed-forward ${config.dFF}, batch ${B} × ${T} tokens, backend ${backend}`,
  );

  // Two threads, the default on wasm, run first: maxRSS only grows, so reading it
  // next gives the peak of default training before the one-thread phase grows the
  // main thread's heap to a whole batch.
  console.error('library training, 2 threads ...');
  const library2 = await libraryTraining(2);
  const libraryPeakRssMiB = process.resourceUsage().maxRSS / 1024;
  console.error('library training, 1 thread ...');
  const library1 = await libraryTraining(1);
  const oneThreadPeakRssMiB = process.resourceUsage().maxRSS / 1024;
  console.error(`reference training (${REFERENCE_STEPS} step${REFERENCE_STEPS === 1 ? '' : 's'} after one warm-up step) ...`);
  const reference = await referenceTraining();
  console.error('generation ...');
  const kvCache = await generationSpeed(true, undefined);
  const recompute = await generationSpeed(false, 1);

  const tensorsAfter = tf.memory().numTensors;
  const peakRssMiB = process.resourceUsage().maxRSS / 1024;
  const rows: [string, string, string][] = [
    ['training, library, 1 thread', `${Math.round(tokensPerStep / library1)} tok/s`, `${(reference / library1).toFixed(1)}× reference`],
    ['training, library, 2 threads', `${Math.round(tokensPerStep / library2)} tok/s`, `${(reference / library2).toFixed(1)}× reference`],
    ['training, reference', `${Math.round(tokensPerStep / reference)} tok/s`, '1.0×'],
    [`generation, KV cache (64-token prompt + ${NEW_TOKENS})`, `${kvCache.toFixed(0)} tok/s`, `${(kvCache / recompute).toFixed(1)}× recomputation`],
    ['generation, full recomputation (last 64 tokens)', `${recompute.toFixed(0)} tok/s`, '1.0×'],
    ['peak RSS, library training (2 threads)', `${libraryPeakRssMiB.toFixed(0)} MiB`, ''],
    ['peak RSS, after the 1-thread phase too', `${oneThreadPeakRssMiB.toFixed(0)} MiB`, ''],
    ['peak RSS, whole benchmark', `${peakRssMiB.toFixed(0)} MiB`, 'includes the reference'],
    ['tensors before / after', `${tensorsBefore} / ${tensorsAfter}`, ''],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  console.log(rows.map(([name, value, ratio]) => `${name.padEnd(width)}  ${value.padStart(14)}  ${ratio}`).join('\n'));

  const results = {
    date: new Date().toISOString(),
    backend,
    node: process.version,
    config,
    batch: { batchSize: B, seqLen: T },
    training: {
      libraryOneThreadTokensPerSecond: tokensPerStep / library1,
      libraryTwoThreadsTokensPerSecond: tokensPerStep / library2,
      referenceTokensPerSecond: tokensPerStep / reference,
      speedupOneThread: reference / library1,
      speedupTwoThreads: reference / library2,
    },
    generation: { newTokens: NEW_TOKENS, kvCacheTokensPerSecond: kvCache, recomputeTokensPerSecond: recompute, speedup: kvCache / recompute },
    libraryPeakRssMiB,
    oneThreadPeakRssMiB,
    peakRssMiB,
    tensorsBefore,
    tensorsAfter,
  };
  fs.mkdirSync(path.dirname(values.out), { recursive: true });
  fs.writeFileSync(values.out, `${JSON.stringify(results, null, 2)}\n`);
  console.error(`Results written to ${values.out}`);
}

main().catch((error: unknown) => {
  console.error(`bench failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
