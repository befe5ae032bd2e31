import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-wasm';

import { generateSyntheticCorpus } from '../src/data/synthetic';
import { resolveModelConfig } from '../src/model/config';
import type { Checkpoint } from '../src/run/checkpoint';
import { trainModel, type TrainingOptions } from '../src/train/trainer';

const CLI = path.resolve(__dirname, '..', 'dist', 'cjs', 'cli', 'main.js');
const DEMO = path.resolve(__dirname, '..', 'data', 'synthetic-bat-calls', 'tokens', 'k_means');

beforeAll(async () => {
  await tf.setBackend('wasm');
  await tf.ready();
});

const corpus = generateSyntheticCorpus({ sequences: 60, seed: 4 });
const train = corpus.sequences.slice(0, 50);
const val = corpus.sequences.slice(50);
const config = resolveModelConfig({ vocabSize: 48, maxSeqLen: 16, dModel: 16, nHeads: 2, nLayers: 1, dFF: 32 });
const options: Partial<TrainingOptions> = {
  epochs: 2,
  batchSize: 8,
  lr: 3e-3,
  workers: 1,
  window: { seqLen: 16, stride: 16, mode: 'pad', randomOffset: true },
  valStride: 8,
  schedule: 'cosine',
  warmupSteps: 3,
};

describe('resuming training', () => {
  test('one epoch, resume, one epoch equals two epochs', async () => {
    const straight = await trainModel({ config, train, val, options });

    let firstEpoch: Checkpoint | undefined;
    const stopped = await trainModel({ config, train, val, options }, { onCheckpoint: (c) => (firstEpoch = c), shouldStop: () => firstEpoch !== undefined });
    expect(stopped.interrupted).toBe(true);
    expect(stopped.history.epochs).toHaveLength(1);
    const resumed = await trainModel({ config, train, val, options, resume: stopped.checkpoint });

    expect(resumed.history.epochs).toEqual(
      straight.history.epochs.map((e, i) => ({ ...e, seconds: resumed.history.epochs[i].seconds, tokensPerSecond: resumed.history.epochs[i].tokensPerSecond })),
    );
    expect(Array.from(resumed.params)).toEqual(Array.from(straight.params));
  });

  test('a stop in the middle of an epoch resumes exactly', async () => {
    const straight = await trainModel({ config, train, val, options });
    let steps = 0;
    const stopped = await trainModel({ config, train, val, options }, { onStep: () => (steps += 1), shouldStop: () => steps === 5 });
    expect(stopped.checkpoint.state.globalStep).toBe(5);
    const resumed = await trainModel({ config, train, val, options, resume: stopped.checkpoint });

    expect(resumed.history.steps.map((s) => s.loss)).toEqual(straight.history.steps.map((s) => s.loss));
    expect(resumed.history.epochs.map((e) => e.valLoss)).toEqual(straight.history.epochs.map((e) => e.valLoss));
  });

  test('tensor count stays flat over 1,000 steps', async () => {
    const tiny = resolveModelConfig({ vocabSize: 48, maxSeqLen: 8, dModel: 8, nHeads: 2, nLayers: 1, dFF: 16 });
    const counts: number[] = [];
    await trainModel(
      {
        config: tiny,
        train,
        val,
        options: { ...options, epochs: 1000, batchSize: 4, window: { seqLen: 8, stride: 8, mode: 'pad', randomOffset: false }, maxSteps: 1000 },
      },
      { onStep: (record) => (record.step % 100 === 0 ? counts.push(tf.memory().numTensors) : undefined) },
    );
    expect(counts).toHaveLength(10);
    expect(new Set(counts).size).toBe(1);
  });
});

describe('command line interruption', () => {
  function runCli(args: string[]): { status: number | null; stderr: string } {
    const result = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8' });
    return { status: result.status, stderr: result.stderr };
  }

  const trainArgs = [
    '--tokens',
    DEMO,
    '--d-model',
    '16',
    '--heads',
    '2',
    '--layers',
    '1',
    '--ff',
    '32',
    '--epochs',
    '2',
    '--batch-size',
    '16',
    '--checkpoint-every',
    '3',
    '--no-progress',
    '--workers',
    '1',
  ];

  test('kill -9 during an epoch, then resume, matches an uninterrupted run', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-kill-'));
    const straight = runCli(['train', ...trainArgs, '--out', path.join(tmp, 'straight')]);
    expect(straight.status).toBe(0);

    const killedDir = path.join(tmp, 'killed');
    const child = spawn(process.execPath, [CLI, 'train', ...trainArgs, '--out', killedDir], { stdio: 'ignore' });
    const stateFile = path.join(killedDir, 'checkpoint', 'state.json');
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (fs.existsSync(stateFile)) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 20);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error('the training process ended before its first checkpoint'));
      });
    });
    await new Promise((resolve) => child.on('exit', resolve));

    const resumed = runCli(['train', '--resume', killedDir, '--no-progress']);
    expect(resumed.stderr).toContain('Resuming');
    expect(resumed.status).toBe(0);
    type LossRecord = { perToken: { loss: number }; window: { loss: number } };
    const read = (dir: string): LossRecord => JSON.parse(fs.readFileSync(path.join(tmp, dir, 'metrics.json'), 'utf8')) as LossRecord;
    expect(read('killed').perToken.loss).toBe(read('straight').perToken.loss);
    expect(read('killed').window.loss).toBe(read('straight').window.loss);
  });

  test('SIGINT checkpoints and exits with 130', async () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-sigint-'));
    const out = path.join(tmp, 'run');
    const child = spawn(process.execPath, [CLI, 'train', ...trainArgs, '--epochs', '50', '--out', out], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    let sent = false;
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      // One signal only: a second one means "exit at once".
      if (!sent && stderr.includes('Epoch 1/50')) {
        sent = true;
        child.kill('SIGINT');
      }
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(130);
    expect(stderr).toContain(`acoustic-lm train --resume ${out}`);
    expect(fs.existsSync(path.join(out, 'checkpoint', 'state.json'))).toBe(true);
  });
});
