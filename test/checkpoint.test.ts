import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { resolveModelConfig, type ModelConfig } from '../src/model/config.js';
import { buildParamLayout, type ParamLayout } from '../src/model/params.js';
import { Rng } from '../src/random.js';
import {
  installCheckpoint,
  loadCheckpoint,
  removeCheckpoint,
  removeRetiredCheckpoint,
  retireCheckpoint,
  saveCheckpoint,
  stageCheckpoint,
  type Checkpoint,
  type TrainingState,
} from '../src/run/checkpoint.js';
import { createRunFolder } from '../src/run/runFolder.js';
import { emptyHistory } from '../src/train/history.js';

const SMALL: ModelConfig = resolveModelConfig({ vocabSize: 20, maxSeqLen: 8, dModel: 8, nHeads: 2, nLayers: 1, dFF: 16 });

let runDir: string;

beforeEach(() => {
  runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-ckpt-'));
  createRunFolder(runDir, { overwrite: true });
});

afterEach(() => {
  fs.rmSync(runDir, { recursive: true, force: true });
});

function randomArray(size: number, rng: Rng): Float32Array {
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = rng.normal() * 10 ** rng.int(8) * 1e-4;
  return values;
}

/** Builds a checkpoint whose arrays and counters all depend on `seed`, so two seeds are told apart. */
function makeCheckpoint(layout: ParamLayout, seed: number, withBest = true): Checkpoint {
  const rng = new Rng(seed);
  const params = randomArray(layout.size, rng);
  params[0] = -0;
  params[1] = 0;
  params[2] = 1e-45;
  const history = emptyHistory();
  if (withBest) {
    history.epochs.push({ epoch: 1, trainLoss: 3 + seed, valLoss: 2.5, valPerplexity: Math.exp(2.5), valAccuracy: 0.25, seconds: 4, tokensPerSecond: 1000 });
    history.steps.push({ step: 1, epoch: 1, loss: 3.5, lr: 1e-3 }, { step: 2, epoch: 1, loss: Number.NaN, lr: 1e-3 });
    history.bestEpoch = 1;
    history.bestValLoss = 2.5;
  }

  const state: TrainingState = {
    epoch: withBest ? 1 : 0,
    stepInEpoch: seed,
    globalStep: 10 + seed,
    rngState: rng.getState(),
    extra: { schedulerWarmup: 4, order: [3, 1, 2], note: 'kept', nested: { limit: Number.POSITIVE_INFINITY } },
    history,
    bestValLoss: withBest ? 2.5 : Number.POSITIVE_INFINITY,
    bestEpoch: withBest ? 1 : 0,
    adamStep: 10 + seed,
  };
  if (seed % 2 === 1) state.epochOrderSeed = 1234 + seed;

  return {
    state,
    params,
    adamM: randomArray(layout.size, rng),
    adamV: Float32Array.from(randomArray(layout.size, rng), Math.abs),
    bestParams: withBest ? randomArray(layout.size, rng) : null,
  };
}

function sameBits(a: Float32Array | null, b: Float32Array | null): boolean {
  if (a === null || b === null) return a === b;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((word, i) => word === y[i]);
}

/** Asserts that `loaded` equals `expected` bit for bit. */
function expectSameCheckpoint(loaded: Checkpoint | null, expected: Checkpoint): void {
  expect(loaded).not.toBeNull();
  expect(loaded!.state).toEqual(expected.state);
  expect(sameBits(loaded!.params, expected.params)).toBe(true);
  expect(sameBits(loaded!.adamM, expected.adamM)).toBe(true);
  expect(sameBits(loaded!.adamV, expected.adamV)).toBe(true);
  expect(sameBits(loaded!.bestParams, expected.bestParams)).toBe(true);
}

function errorMessage(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the call to throw');
}

function runEntries(): string[] {
  return fs.readdirSync(runDir).filter((name) => name !== 'run.json').sort();
}

describe('checkpoint round trip', () => {
  const layout = buildParamLayout(SMALL);

  test('no checkpoint loads as null', () => {
    expect(loadCheckpoint(runDir, layout)).toBeNull();
  });

  test('restores arrays and state bit-exactly', () => {
    const checkpoint = makeCheckpoint(layout, 1);
    saveCheckpoint(runDir, layout, checkpoint);

    const loaded = loadCheckpoint(runDir, layout);
    expectSameCheckpoint(loaded, checkpoint);
    expect(Object.is(loaded!.params[0], -0)).toBe(true);
    expect(Object.is(loaded!.params[1], 0)).toBe(true);
    expect(loaded!.state.history.steps[1].loss).toBeNaN();
    expect(loaded!.state.epochOrderSeed).toBe(1235);
    expect(runEntries()).toEqual(['checkpoint']);
    expect(fs.readdirSync(path.join(runDir, 'checkpoint')).sort()).toEqual(['adam_m.bin', 'adam_v.bin', 'best_params.bin', 'params.bin', 'state.json']);
  });

  test('first checkpoint has no best params', () => {
    const checkpoint = makeCheckpoint(layout, 2, false);
    saveCheckpoint(runDir, layout, checkpoint);

    const loaded = loadCheckpoint(runDir, layout);
    expectSameCheckpoint(loaded, checkpoint);
    expect(loaded!.bestParams).toBeNull();
    expect(loaded!.state.bestValLoss).toBe(Number.POSITIVE_INFINITY);
    expect(loaded!.state.history.bestValLoss).toBe(Number.POSITIVE_INFINITY);
    expect('epochOrderSeed' in loaded!.state).toBe(false);
  });

  test('NaN payloads survive', () => {
    const checkpoint = makeCheckpoint(layout, 3);
    new Uint32Array(checkpoint.adamM.buffer)[5] = 0x7fa00001;
    saveCheckpoint(runDir, layout, checkpoint);
    expect(new Uint32Array(loadCheckpoint(runDir, layout)!.adamM.buffer)[5]).toBe(0x7fa00001);
  });

  test('later save replaces earlier one', () => {
    saveCheckpoint(runDir, layout, makeCheckpoint(layout, 1));
    const second = makeCheckpoint(layout, 2);
    saveCheckpoint(runDir, layout, second);

    expectSameCheckpoint(loadCheckpoint(runDir, layout), second);
    expect(runEntries()).toEqual(['checkpoint']);
  });

  test('removeCheckpoint clears every folder', () => {
    saveCheckpoint(runDir, layout, makeCheckpoint(layout, 1));
    stageCheckpoint(runDir, layout, makeCheckpoint(layout, 2));
    retireCheckpoint(runDir);

    removeCheckpoint(runDir);
    expect(runEntries()).toEqual([]);
    expect(loadCheckpoint(runDir, layout)).toBeNull();
  });
});

describe('interrupted save', () => {
  const layout = buildParamLayout(SMALL);
  let previous: Checkpoint;
  let next: Checkpoint;

  beforeEach(() => {
    previous = makeCheckpoint(layout, 1);
    next = makeCheckpoint(layout, 2);
    saveCheckpoint(runDir, layout, previous);
  });

  test('stopped after staging keeps previous', () => {
    stageCheckpoint(runDir, layout, next);
    expectSameCheckpoint(loadCheckpoint(runDir, layout), previous);
  });

  test('stopped after retiring loads old folder', () => {
    stageCheckpoint(runDir, layout, next);
    retireCheckpoint(runDir);
    expect(runEntries()).toEqual(expect.arrayContaining(['checkpoint.old']));
    expect(runEntries()).not.toContain('checkpoint');
    expectSameCheckpoint(loadCheckpoint(runDir, layout), previous);
  });

  test('stopped after install loads new', () => {
    const staging = stageCheckpoint(runDir, layout, next);
    retireCheckpoint(runDir);
    installCheckpoint(runDir, staging);
    expect(runEntries()).toEqual(['checkpoint', 'checkpoint.old']);
    expectSameCheckpoint(loadCheckpoint(runDir, layout), next);
  });

  test('all stages equal a full save', () => {
    const staging = stageCheckpoint(runDir, layout, next);
    retireCheckpoint(runDir);
    installCheckpoint(runDir, staging);
    removeRetiredCheckpoint(runDir);
    expect(runEntries()).toEqual(['checkpoint']);
    expectSameCheckpoint(loadCheckpoint(runDir, layout), next);
  });

  test('partly written staging folder is ignored', () => {
    const staging = stageCheckpoint(runDir, layout, next);
    fs.rmSync(path.join(staging, 'state.json'));
    fs.truncateSync(path.join(staging, 'adam_v.bin'), 10);
    expectSameCheckpoint(loadCheckpoint(runDir, layout), previous);
  });

  test('partly removed old folder is ignored', () => {
    const staging = stageCheckpoint(runDir, layout, next);
    retireCheckpoint(runDir);
    installCheckpoint(runDir, staging);
    fs.rmSync(path.join(runDir, 'checkpoint.old', 'params.bin'));
    expectSameCheckpoint(loadCheckpoint(runDir, layout), next);
  });

  test('save after each interruption recovers', () => {
    const stages: ((staging: string) => void)[] = [
      () => undefined,
      () => retireCheckpoint(runDir),
      (staging) => {
        retireCheckpoint(runDir);
        installCheckpoint(runDir, staging);
      },
    ];
    for (const [index, interrupted] of stages.entries()) {
      interrupted(stageCheckpoint(runDir, layout, makeCheckpoint(layout, 10 + index)));
      const resumed = makeCheckpoint(layout, 20 + index);
      saveCheckpoint(runDir, layout, resumed);

      expect(runEntries()).toEqual(['checkpoint']);
      expectSameCheckpoint(loadCheckpoint(runDir, layout), resumed);
    }
  });

  test('failed rename keeps previous loadable', () => {
    // A save into a folder that lost write permission fails at the first
    // write; skip when running as root, which ignores permissions.
    if (process.getuid?.() === 0) return;
    fs.chmodSync(runDir, 0o555);
    try {
      expect(() => saveCheckpoint(runDir, layout, next)).toThrow(/EACCES/);
    } finally {
      fs.chmodSync(runDir, 0o755);
    }
    expectSameCheckpoint(loadCheckpoint(runDir, layout), previous);
  });
});

describe('checkpoint validation', () => {
  const layout = buildParamLayout(SMALL);

  test('corrupted binary names the file', () => {
    saveCheckpoint(runDir, layout, makeCheckpoint(layout, 1));
    const file = path.join(runDir, 'checkpoint', 'adam_m.bin');
    const bytes = fs.readFileSync(file);
    bytes[17] ^= 0x01;
    fs.writeFileSync(file, bytes);

    const message = errorMessage(() => loadCheckpoint(runDir, layout));
    expect(message).toContain(`${file}: CRC-32 is`);
    expect(message).toContain('corrupted');
    expect(message).not.toContain('\n');
  });

  test('truncated binary names the file', () => {
    saveCheckpoint(runDir, layout, makeCheckpoint(layout, 1));
    const file = path.join(runDir, 'checkpoint', 'params.bin');
    fs.truncateSync(file, 100);
    expect(errorMessage(() => loadCheckpoint(runDir, layout))).toContain(`${file}: file holds 100 bytes, state.json records ${layout.size * 4}`);
  });

  test('missing binary names the file', () => {
    saveCheckpoint(runDir, layout, makeCheckpoint(layout, 1));
    const file = path.join(runDir, 'checkpoint', 'best_params.bin');
    fs.rmSync(file);
    expect(errorMessage(() => loadCheckpoint(runDir, layout))).toContain(`${file}: file not found`);
  });

  test('other model layout is rejected', () => {
    saveCheckpoint(runDir, layout, makeCheckpoint(layout, 1));
    const other = buildParamLayout({ ...SMALL, dFF: 32 });
    const message = errorMessage(() => loadCheckpoint(runDir, other));
    expect(message).toContain('"layers.0.w1" [8, 16], the model has "layers.0.w1" [8, 32]');

    const deeper = buildParamLayout({ ...SMALL, nLayers: 2 });
    expect(errorMessage(() => loadCheckpoint(runDir, deeper))).toContain('the checkpoint has 17 parameter tensors, the model has 29');
  });

  test('unknown checkpoint version is rejected', () => {
    saveCheckpoint(runDir, layout, makeCheckpoint(layout, 1));
    const file = path.join(runDir, 'checkpoint', 'state.json');
    const record = JSON.parse(fs.readFileSync(file, 'utf8'));
    fs.writeFileSync(file, JSON.stringify({ ...record, version: 7 }));

    const message = errorMessage(() => loadCheckpoint(runDir, layout));
    expect(message).toContain(file);
    expect(message).toContain('version 7');
    expect(message).toContain('reads version 1');
  });

  test('edited state field is named', () => {
    saveCheckpoint(runDir, layout, makeCheckpoint(layout, 1));
    const file = path.join(runDir, 'checkpoint', 'state.json');
    const record = JSON.parse(fs.readFileSync(file, 'utf8'));
    record.state.rngState = [1, 2, 3];
    fs.writeFileSync(file, JSON.stringify(record));
    expect(errorMessage(() => loadCheckpoint(runDir, layout))).toContain('state.rngState must be four unsigned 32-bit integers, received [1,2,3]');

    record.state.rngState = [1, 2, 3, 4];
    record.state.history.steps[0].lr = '0.001';
    fs.writeFileSync(file, JSON.stringify(record));
    expect(errorMessage(() => loadCheckpoint(runDir, layout))).toContain('state.history.steps[0].lr must be a number, received the string "0.001"');
  });

  test('invalid state is rejected before writing', () => {
    const previous = makeCheckpoint(layout, 1);
    saveCheckpoint(runDir, layout, previous);

    const bad = makeCheckpoint(layout, 2);
    bad.state.epoch = -1;
    expect(errorMessage(() => saveCheckpoint(runDir, layout, bad))).toContain('invalid training state: state.epoch must be an integer of at least 0, received -1');

    const short = makeCheckpoint(layout, 3);
    short.adamV = new Float32Array(layout.size - 1);
    expect(() => saveCheckpoint(runDir, layout, short)).toThrow(`adamV has ${layout.size - 1} values, the parameter layout has ${layout.size}`);

    expect(runEntries()).toEqual(['checkpoint']);
    expectSameCheckpoint(loadCheckpoint(runDir, layout), previous);
  });
});

describe('checkpoint speed', () => {
  test('2.4M parameters save in under a second', () => {
    // Default model width with a 500-unit vocabulary: about 2.4M parameters.
    const layout = buildParamLayout(resolveModelConfig({ vocabSize: 500 }));
    expect(layout.size).toBeGreaterThan(2_200_000);
    const checkpoint = makeCheckpoint(layout, 5);

    const start = performance.now();
    saveCheckpoint(runDir, layout, checkpoint);
    const saveSeconds = (performance.now() - start) / 1000;

    const loadStart = performance.now();
    const loaded = loadCheckpoint(runDir, layout);
    const loadSeconds = (performance.now() - loadStart) / 1000;

    expectSameCheckpoint(loaded, checkpoint);
    expect(saveSeconds).toBeLessThan(1);
    expect(loadSeconds).toBeLessThan(1);
  });
});
