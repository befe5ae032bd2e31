// Trains a small model on the SYNTHETIC sample corpus, evaluates it beside
// the count baselines and the source's exact entropy rate, reloads the run
// to reproduce its metrics, and samples a continuation.
//
// Run from the repository root after `npm run build`:
//   node scripts/demo.cjs [RUN_DIR]
const fs = require('node:fs');
const path = require('node:path');

const lib = require('../dist/cjs/index.js');
const synthetic = require('../dist/cjs/data/synthetic.js');

const root = path.resolve(__dirname, '..');
const corpusDir = path.join(root, 'data', 'synthetic-bat-calls');
const runDir = path.resolve(process.argv[2] ?? path.join(root, 'build', 'demo-run'));

async function main() {
  const source = JSON.parse(fs.readFileSync(path.join(corpusDir, 'source.json'), 'utf8'));
  console.error('Sample corpus: SYNTHETIC bat-call-like token sequences (see data/synthetic-bat-calls/README.md).');

  const summary = await lib.trainRun({
    tokens: path.join(corpusDir, 'tokens', 'k_means'),
    type: 'kmeans',
    out: runDir,
    overwrite: true,
    model: { dModel: 64, nHeads: 2, nLayers: 2, dFF: 128 },
    training: { epochs: 20, lr: 3e-3, batchSize: 32, warmupSteps: 20 },
    report: path.join(runDir, 'report.html'),
  });

  // The floor: the true source's own loss on exactly the validation tokens the model is scored on.
  const run = lib.loadRun(runDir);
  const corpus = await lib.loadTokens(path.join(corpusDir, 'tokens', 'k_means'), { type: 'kmeans' });
  const { val } = lib.applySplit(corpus, run.split, corpus.source);
  const chain = synthetic.buildBatCallSource(source.source ?? {});
  let floorSum = 0;
  let floorTokens = 0;
  for (const sequence of val) {
    const losses = synthetic.tokenNegativeLogLikelihoods(chain, sequence);
    for (let t = 1; t < losses.length; t++) floorSum += losses[t];
    floorTokens += losses.length - 1;
  }
  const rate = synthetic.entropyRate(chain);
  const model = summary.metrics.perToken.loss;
  console.error(
    `\nPer-token validation cross-entropy: model ${model.toFixed(4)} nats; true source on the same tokens ${(floorSum / floorTokens).toFixed(4)} nats; ` +
      `entropy rate of the source ${rate.toFixed(4)} nats/token. The model is ${(model - floorSum / floorTokens).toFixed(4)} nats above the floor.`,
  );

  console.error('\nReloading the run and evaluating it again:');
  const again = await lib.evaluateRun(runDir, { progress: false });
  console.error(
    `per-token CE ${again.perToken.loss.toFixed(4)} (recorded ${model.toFixed(4)}); window CE ${again.window.loss.toFixed(4)} (recorded ${summary.metrics.window.loss.toFixed(4)})`,
  );

  const engine = lib.runEngine(run);
  const prompt = { ids: Int32Array.from(val[0]).slice(0, 32), source: `validation:0 (${run.split.valNames[0]}):first 32` };
  const result = await lib.generate(engine, [prompt], { maxNewTokens: 64, temperature: 1, topK: 10, seed: 1, reference: val });
  engine.dispose();
  console.error(`\nPrompt:       ${Array.from(prompt.ids).join(' ')}`);
  console.error(`Continuation: ${Array.from(result.samples[0].continuation).join(' ')}`);
  console.error(`Run folder: ${runDir} (report: ${path.join(runDir, 'report.html')})`);
}

main().catch((error) => {
  console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
});
