import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

import { readTokenNpy } from '../src/data/npy';
import { loadRun, runEngine } from '../src/pipeline/evaluate';

const CLI = path.resolve(__dirname, '..', 'dist', 'cjs', 'cli', 'main.js');
const DEMO = path.resolve(__dirname, '..', 'data', 'synthetic-bat-calls', 'tokens', 'k_means');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-cli-'));
const runDir = path.join(tmp, 'run');

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
  const trained = cli(
    'train',
    '--tokens',
    DEMO,
    '--type',
    'kmeans',
    '--out',
    runDir,
    '--d-model',
    '32',
    '--heads',
    '2',
    '--layers',
    '1',
    '--ff',
    '64',
    '--epochs',
    '3',
    '--lr',
    '3e-3',
    '--batch-size',
    '16',
    '--no-progress',
  );
  if (trained.status !== 0) throw new Error(`training failed: ${trained.stderr}`);
});

describe('acoustic-lm train and evaluate', () => {
  test('the run folder holds every file', () => {
    for (const file of [
      'run.json',
      'config.json',
      'split.json',
      'model.json',
      'weights.bin',
      'history.json',
      'history.csv',
      'steps.csv',
      'metrics.json',
      'checkpoint',
    ]) {
      expect(fs.existsSync(path.join(runDir, file))).toBe(true);
    }
    expect(fs.readFileSync(path.join(runDir, 'history.csv'), 'utf8').trim().split('\n')).toHaveLength(4);
  });

  test('evaluate reproduces the recorded metrics', () => {
    const result = cli('evaluate', '--run', runDir, '--no-progress');
    expect(result.status).toBe(0);
    const metrics = JSON.parse(fs.readFileSync(path.join(runDir, 'metrics.json'), 'utf8')) as { perToken: { loss: number }; window: { loss: number } };
    expect(result.stdout).toContain(`per token: ${metrics.perToken.loss.toFixed(4)} nats`);
    expect(result.stdout).toContain('Kneser-Ney bigram');
  });
});

describe('acoustic-lm generate', () => {
  test('greedy output equals an independent argmax', async () => {
    const out = path.join(tmp, 'greedy');
    const result = cli('generate', '--run', runDir, '--prompt', '0 0 1 1 2', '--max-new', '12', '--temperature', '0', '--out', out);
    expect(result.status).toBe(0);
    expect(result.stderr).toContain('Diagnostics:');
    const written = await readTokenNpy(path.join(out, 'sample_000.npy'));
    if (written.status !== 'loaded') throw new Error('sample not loaded');

    const run = loadRun(runDir);
    const engine = runEngine(run);
    const context = [0, 0, 1, 1, 2];
    const V = run.config.model.vocabSize;
    for (let step = 0; step < 12; step++) {
      const window = context.slice(-run.config.model.maxSeqLen);
      const logits = engine.logits({ inputs: Int32Array.from(window), targets: new Int32Array(window.length).fill(-1), batchSize: 1, seqLen: window.length });
      const last = logits.subarray((window.length - 1) * V, window.length * V);
      let best = 0;
      for (let v = 1; v < V; v++) if (last[v] > last[best]) best = v;
      context.push(best);
    }
    engine.dispose();
    expect(Array.from(written.ids)).toEqual(context);
    const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8')) as { settings: { temperature: number } };
    expect(summary.settings.temperature).toBe(0);
  });
});

describe('command-line errors', () => {
  /** Checks that the error is one line, the last one, with no stack trace; progress lines may precede it. */
  const oneLine = (stderr: string): string => {
    const lines = stderr.trim().split('\n');
    const errors = lines.filter((line) => line.startsWith('acoustic-lm: error: '));
    expect(errors).toHaveLength(1);
    expect(lines[lines.length - 1]).toBe(errors[0]);
    expect(stderr).not.toMatch(/\n\s+at /);
    return errors[0];
  };

  test.each([
    [['train', '--out', path.join(tmp, 'x')], /needs --tokens/, 2],
    [['train', '--tokens', DEMO, '--out', path.join(tmp, 'y'), '--heads', 'two'], /--heads must be an integer of at least 1, received "two"/, 2],
    [['train', '--tokens', path.join(tmp, 'missing'), '--out', path.join(tmp, 'z')], /missing/, 1],
    [['train', '--tokens', DEMO, '--type', 'vqvae', '--out', path.join(tmp, 'w')], /vqvae_/, 1],
    [['train', '--tokens', DEMO, '--out', runDir], /already contains a run/, 1],
    [['train', '--tokens', DEMO, '--out', path.join(tmp, 'v'), '--backend', 'webgpu'], /Unknown backend "webgpu"/, 1],
    [['train', '--tokens', DEMO, '--out', path.join(tmp, 'u'), '--d-model', '30', '--heads', '4'], /dModel \(30\) must be divisible by nHeads \(4\)/, 1],
    [['train', '--tokens', DEMO, '--out', path.join(tmp, 't'), '--align', '3'], /window.align 3 must divide the stride \(64\) and valStride \(64\)/, 1],
    [['train', '--bogus'], /bogus/, 2],
    [['frobnicate'], /Unknown command "frobnicate"/, 2],
    [['evaluate', '--run', tmp], /not an acoustic-lm run folder/, 1],
    [['generate', '--run', runDir, '--prompt', '1 2 999', '--max-new', '3', '--out', path.join(tmp, 'g')], /999/, 1],
    [
      ['generate', '--run', runDir, '--prompt', '1 2', '--max-new', '3', '--top-p', '1.5', '--out', path.join(tmp, 'g')],
      /--top-p must be a number at least 0 and at most 1/,
      2,
    ],
  ])('%j fails with one line', (args, pattern, status) => {
    const result = cli(...args);
    expect(result.status).toBe(status);
    expect(oneLine(result.stderr)).toMatch(pattern);
  });

  test('an edited config is reported by field', () => {
    const edited = path.join(tmp, 'edited');
    fs.cpSync(runDir, edited, { recursive: true });
    const configFile = path.join(edited, 'config.json');
    const config = JSON.parse(fs.readFileSync(configFile, 'utf8')) as { model: { nHeads: number } };
    config.model.nHeads = -2;
    fs.writeFileSync(configFile, JSON.stringify(config));
    const result = cli('evaluate', '--run', edited, '--no-progress');
    expect(result.status).toBe(1);
    expect(oneLine(result.stderr)).toMatch(/config\.json.*nHeads.*-2/);
  });

  test('an unknown format version is rejected', () => {
    const future = path.join(tmp, 'future');
    fs.cpSync(runDir, future, { recursive: true });
    const runFile = path.join(future, 'run.json');
    const manifest = JSON.parse(fs.readFileSync(runFile, 'utf8')) as { version: number };
    manifest.version = 99;
    fs.writeFileSync(runFile, JSON.stringify(manifest));
    const result = cli('evaluate', '--run', future);
    expect(result.status).toBe(1);
    expect(oneLine(result.stderr)).toMatch(/99/);
  });
});
