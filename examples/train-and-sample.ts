/**
 * Trains a small Transformer on a folder of token files, prints its
 * validation metrics beside the count baselines, and samples a continuation
 * of the first validation sequence.
 *
 * Usage: npm run example [-- TOKEN_DIR]
 */
import {
  evaluateFinal,
  formatFinalMetrics,
  generate,
  loadTokens,
  ModelEngine,
  recipeOptions,
  resolveModelConfig,
  selectBackend,
  splitSequences,
  trainModel,
} from 'acoustic-lm';

async function main(): Promise<void> {
  const tokenDir = process.argv[2] ?? 'data/synthetic-bat-calls/tokens/k_means';
  await selectBackend();

  const corpus = await loadTokens(tokenDir);
  const split = splitSequences(corpus.sequences.length);
  const train = split.trainIndices.map((i) => corpus.sequences[i].ids);
  const val = split.valIndices.map((i) => corpus.sequences[i].ids);

  // Sized to train in about a minute on 2 CPU cores with the wasm backend. The smaller batch and
  // higher peak learning rate give this small model enough steps to approach the count baselines.
  const options = recipeOptions('fast', { epochs: 12, batchSize: 32, lr: 3e-3, warmupSteps: 20 });
  const config = resolveModelConfig({ vocabSize: corpus.vocabSize, maxSeqLen: options.window.seqLen, dModel: 64, nLayers: 2, dFF: 128 });
  const { layout, params } = await trainModel(
    { config, train, val, options },
    { onEpoch: (record) => console.log(`epoch ${record.epoch}: val loss ${record.valLoss.toFixed(4)} nats`) },
  );

  const metrics = await evaluateFinal(config, layout, params, train, val, { seqLen: options.window.seqLen, progress: false });
  console.log(formatFinalMetrics(metrics));

  const engine = new ModelEngine(config, layout);
  engine.setWeights(params);
  const prompt = { ids: val[0].slice(0, 32), source: 'validation:0' };
  const { samples } = await generate(engine, [prompt], { maxNewTokens: 32, topK: 10, seed: 1 });
  engine.dispose();

  console.log(`prompt:       ${prompt.ids.join(' ')}`);
  console.log(`continuation: ${samples[0].continuation.join(' ')}`);
  console.log(`recorded:     ${val[0].slice(32, 64).join(' ')}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
