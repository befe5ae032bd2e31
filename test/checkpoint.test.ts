import nodeFs from 'node:fs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawn } from 'node:child_process';

import * as ts from 'typescript';

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

/** The fields of checkpoint/state.json that tests overwrite with invalid values. */
interface EditableStateRecord {
  state: { rngState: unknown; history: { steps: { lr: unknown }[] } };
}

const SMALL: ModelConfig = resolveModelConfig({ vocabSize: 20, maxSeqLen: 8, dModel: 8, nHeads: 2, nLayers: 1, dFF: 16 });

let runDir: string;

beforeEach(() => {
  runDir = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-ckpt-'));
  createRunFolder(runDir, { overwrite: true });
});

afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(runDir, { recursive: true, force: true });
});

/**
 * Returns random finite floats drawn as random bit patterns, so every
 * exponent, denormals and -0 occur. The bits come from xorshift32 seeded by
 * `rng`, which is several times faster than drawing each word from Rng.
 */
function randomArray(size: number, rng: Rng): Float32Array {
  const words = new Uint32Array(size);
  let x = rng.nextUint32() | 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const word = x >>> 0;
    // An all-ones exponent would make Infinity or NaN, so flip one exponent bit.
    words[i] = (word & 0x7f800000) === 0x7f800000 ? word ^ 0x40000000 : word;
  }
  return new Float32Array(words.buffer);
}

/** Builds a checkpoint whose arrays and counters all depend on `seed`, so checkpoints of two seeds differ everywhere. */
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
    adamV: randomArray(layout.size, rng).map(Math.abs),
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
  return fs
    .readdirSync(runDir)
    .filter((name) => name !== 'run.json')
    .sort();
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
    expect(loaded!.params[2]).toBe(2 ** -149);
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

  test.each([
    ['retire', 'checkpoint.old'],
    ['install', 'checkpoint'],
  ])('failed %s rename keeps previous loadable', (_stage, failingTarget) => {
    const realRename = nodeFs.renameSync;
    jest.spyOn(nodeFs, 'renameSync').mockImplementation((from, to) => {
      if (path.basename(String(to)) === failingTarget) throw new Error(`injected failure renaming to ${failingTarget}`);
      realRename(from, to);
    });

    expect(() => saveCheckpoint(runDir, layout, next)).toThrow('injected failure');
    jest.restoreAllMocks();
    expectSameCheckpoint(loadCheckpoint(runDir, layout), previous);

    saveCheckpoint(runDir, layout, next);
    expect(runEntries()).toEqual(['checkpoint']);
    expectSameCheckpoint(loadCheckpoint(runDir, layout), next);
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
    expect(errorMessage(() => loadCheckpoint(runDir, layout))).toContain(`${file}: file contains 100 bytes, but state.json records ${layout.size * 4}`);
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
    const record = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify({ ...record, version: 7 }));

    const message = errorMessage(() => loadCheckpoint(runDir, layout));
    expect(message).toContain(file);
    expect(message).toContain('version 7');
    expect(message).toContain('reads version 1');
  });

  test('edited state field is named', () => {
    saveCheckpoint(runDir, layout, makeCheckpoint(layout, 1));
    const file = path.join(runDir, 'checkpoint', 'state.json');
    const record = JSON.parse(fs.readFileSync(file, 'utf8')) as EditableStateRecord;
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
    expect(errorMessage(() => saveCheckpoint(runDir, layout, bad))).toContain(
      'invalid training state: state.epoch must be an integer of at least 0, received -1',
    );

    const short = makeCheckpoint(layout, 3);
    short.adamV = new Float32Array(layout.size - 1);
    expect(() => saveCheckpoint(runDir, layout, short)).toThrow(`adamV has ${layout.size - 1} values, the parameter layout has ${layout.size}`);

    expect(runEntries()).toEqual(['checkpoint']);
    expectSameCheckpoint(loadCheckpoint(runDir, layout), previous);
  });
});

/** Transpiles every source file to CommonJS under `outDir`, keeping the folder structure, so a plain node child can require them. */
function transpileSources(outDir: string): void {
  const srcDir = path.join(__dirname, '..', 'src');
  const files = fs.readdirSync(srcDir, { recursive: true, encoding: 'utf8' }).filter((name) => name.endsWith('.ts'));
  for (const name of files) {
    const source = fs.readFileSync(path.join(srcDir, name), 'utf8');
    const output = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true } });
    const target = path.join(outDir, name.replace(/\.ts$/, '.js'));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, output.outputText);
  }
}

/**
 * Child program: resumes from the run's checkpoint, then saves checkpoints
 * in a loop, each with every array filled with its global step, and prints
 * each step after its save returns.
 */
const SAVE_LOOP = `
const { buildParamLayout } = require('./model/params.js');
const { emptyHistory } = require('./train/history.js');
const { saveCheckpoint, loadCheckpoint } = require('./run/checkpoint.js');
const [runDir, config] = [process.argv[2], JSON.parse(process.argv[3])];
const layout = buildParamLayout(config);
const previous = loadCheckpoint(runDir, layout);
for (let step = previous === null ? 1 : previous.state.globalStep + 1; ; step++) {
  const filled = () => new Float32Array(layout.size).fill(step);
  const state = { epoch: 0, stepInEpoch: step, globalStep: step, rngState: [step, 0, 0, 1], extra: {}, history: emptyHistory(),
    bestValLoss: Infinity, bestEpoch: 0, adamStep: step };
  saveCheckpoint(runDir, layout, { state, params: filled(), adamM: filled(), adamV: filled(), bestParams: filled() });
  process.stdout.write(step + '\\n');
}
`;

describe('checkpoint after kill -9', () => {
  test('last complete save survives SIGKILL', async () => {
    // A child that crashes on start exits without printing; the race below then ends the round and the signal check fails.
    const config = resolveModelConfig({ vocabSize: 100, maxSeqLen: 16, dModel: 64, nHeads: 2, nLayers: 2, dFF: 128 });
    const layout = buildParamLayout(config);
    const codeDir = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-code-'));
    transpileSources(codeDir);
    fs.writeFileSync(path.join(codeDir, 'saveLoop.js'), SAVE_LOOP);

    try {
      let lastPrinted = 0;
      for (let round = 0; round < 8; round++) {
        const child = spawn(process.execPath, [path.join(codeDir, 'saveLoop.js'), runDir, JSON.stringify(config)], { stdio: ['ignore', 'pipe', 'inherit'] });
        let output = '';
        const firstSave = new Promise<void>((resolve) => {
          child.stdout.on('data', (chunk: Buffer) => {
            output += chunk.toString();
            resolve();
          });
        });
        const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));

        // Wait for one save to finish, however slow the machine, then kill at
        // a different moment of the save cycle in each round.
        await Promise.race([firstSave, exited]);
        await new Promise((resolve) => setTimeout(resolve, 20 + 13 * round));
        child.kill('SIGKILL');
        expect(await exited).toBe('SIGKILL');

        const printed = output.trim().split('\n').filter(Boolean).map(Number);
        lastPrinted = printed.length > 0 ? printed[printed.length - 1] : lastPrinted;
        const loaded = loadCheckpoint(runDir, layout);
        expect(loaded).not.toBeNull();
        const step = loaded!.state.globalStep;

        // The save in flight at the kill may or may not have been installed.
        expect([lastPrinted, lastPrinted + 1]).toContain(step);
        for (const values of [loaded!.params, loaded!.adamM, loaded!.adamV, loaded!.bestParams!]) {
          expect(values.every((value) => value === step)).toBe(true);
        }
        lastPrinted = step;
      }
      expect(lastPrinted).toBeGreaterThan(8);
    } finally {
      fs.rmSync(codeDir, { recursive: true, force: true });
    }
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
