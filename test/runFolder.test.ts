import nodeFs from 'node:fs';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

import { resolveModelConfig, type ModelConfig } from '../src/model/config.js';
import { buildParamLayout, initParams, type ParamLayout } from '../src/model/params.js';
import { Rng } from '../src/random.js';
import { commitTemporaryFileSync, writeFileAtomic, writeFileAtomicSync, writeJsonAtomicSync, writeTemporaryFileSync } from '../src/run/atomic.js';
import {
  bytesToFloat32,
  crc32,
  crc32Fallback,
  float32ToBytes,
  LIBRARY_NAME,
  LIBRARY_VERSION,
  parseRunJson,
  RUN_FORMAT_VERSION,
  RunFolderError,
  stringifyRunJson,
  type RunManifest,
} from '../src/run/format.js';
import {
  createRunFolder,
  HISTORY_CSV_HEADER,
  loadWeights,
  openRunFolder,
  readRunConfig,
  saveWeights,
  STEPS_CSV_HEADER,
  writeRunConfig,
  type RunConfig,
  type WeightsFile,
} from '../src/run/runFolder.js';
import { emptyHistory, type TrainingHistory } from '../src/train/history.js';

const SMALL: ModelConfig = resolveModelConfig({ vocabSize: 20, maxSeqLen: 8, dModel: 8, nHeads: 2, nLayers: 1, dFF: 16 });

let root: string;

beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-run-'));
});

afterEach(() => {
  jest.restoreAllMocks();
  fs.rmSync(root, { recursive: true, force: true });
});

/** Returns the message of the error `action` throws, failing the test when it throws none. */
function errorMessage(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error('expected the call to throw');
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  return x.length === y.length && x.every((word, i) => word === y[i]);
}

describe('atomic writes', () => {
  test('writes strings and typed-array views', async () => {
    const values = new Float32Array([1, 2, 3, 4]);
    const file = path.join(root, 'a.bin');

    writeFileAtomicSync(file, values.subarray(1, 3));
    expect([...new Float32Array(new Uint8Array(fs.readFileSync(file)).buffer)]).toEqual([2, 3]);

    await writeFileAtomic(path.join(root, 'b.txt'), 'héllo');
    expect(fs.readFileSync(path.join(root, 'b.txt'), 'utf8')).toBe('héllo');
  });

  test('leaves no temporary files on success', async () => {
    const file = path.join(root, 'data.txt');
    for (let i = 0; i < 5; i++) {
      writeFileAtomicSync(file, `sync ${i}`);
      await writeFileAtomic(file, `async ${i}`);
    }
    expect(fs.readdirSync(root)).toEqual(['data.txt']);
    expect(fs.readFileSync(file, 'utf8')).toBe('async 4');
  });

  test('crash before rename keeps old file', () => {
    const file = path.join(root, 'data.txt');
    writeFileAtomicSync(file, 'old');

    // A process killed between the write and the rename leaves only the temporary file.
    const temporary = writeTemporaryFileSync(file, 'new contents');
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(fs.readFileSync(temporary, 'utf8')).toBe('new contents');
    expect(path.dirname(temporary)).toBe(root);

    commitTemporaryFileSync(temporary, file);
    expect(fs.readFileSync(file, 'utf8')).toBe('new contents');
    expect(fs.readdirSync(root)).toEqual(['data.txt']);
  });

  test('failed rename keeps old file and removes temporary', async () => {
    const file = path.join(root, 'data.txt');
    writeFileAtomicSync(file, 'old');
    jest.spyOn(nodeFs, 'renameSync').mockImplementation(() => {
      throw new Error('injected rename failure');
    });
    jest.spyOn(nodeFs.promises, 'rename').mockRejectedValue(new Error('injected async rename failure'));

    expect(() => writeFileAtomicSync(file, 'new')).toThrow('injected rename failure');
    await expect(writeFileAtomic(file, 'new')).rejects.toThrow('injected async rename failure');
    expect(fs.readFileSync(file, 'utf8')).toBe('old');
    expect(fs.readdirSync(root)).toEqual(['data.txt']);
  });

  test('rename over a folder fails cleanly', () => {
    const target = path.join(root, 'occupied');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'inside.txt'), 'x');

    expect(() => writeFileAtomicSync(target, 'data')).toThrow();
    expect(fs.readdirSync(root)).toEqual(['occupied']);
  });

  test('missing folder throws and writes nothing', () => {
    expect(() => writeFileAtomicSync(path.join(root, 'missing', 'a.txt'), 'x')).toThrow(/ENOENT/);
    expect(fs.readdirSync(root)).toEqual([]);
  });

  test('JSON is pretty with trailing newline', () => {
    const file = path.join(root, 'v.json');
    writeJsonAtomicSync(file, { a: 1, b: [true] });
    expect(fs.readFileSync(file, 'utf8')).toBe('{\n  "a": 1,\n  "b": [\n    true\n  ]\n}\n');
  });
});

describe('format helpers', () => {
  test('run JSON keeps non-finite numbers', () => {
    const value = { a: Number.NaN, b: [Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY], c: 1.5, d: 'text' };
    const text = stringifyRunJson(value);
    expect(text).toContain('"NaN"');
    expect(text.endsWith('}\n')).toBe(true);

    const parsed = parseRunJson(text) as typeof value;
    expect(parsed.a).toBeNaN();
    expect(parsed.b).toEqual([Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]);
    expect(parsed.c).toBe(1.5);
    expect(parsed.d).toBe('text');
  });

  test('crc32 matches the standard check value', () => {
    const check = new TextEncoder().encode('123456789');
    expect(crc32(check)).toBe(0xcbf43926);
    expect(crc32Fallback(check)).toBe(0xcbf43926);

    const rng = new Rng(3);
    const bytes = Uint8Array.from({ length: 10007 }, () => rng.int(256));
    expect(crc32Fallback(bytes)).toBe(crc32(bytes));
  });

  test('float32 bytes round trip bit-exactly', () => {
    const values = new Float32Array([0, -0, 1.5, -3.25e-39, 3.4e38, Number.POSITIVE_INFINITY]);
    const withNaN = new Float32Array(values.length + 1);
    withNaN.set(values);
    new Uint32Array(withNaN.buffer)[values.length] = 0x7fc12345;

    const restored = bytesToFloat32(Uint8Array.from(float32ToBytes(withNaN)));
    expect(sameBits(restored, withNaN)).toBe(true);
    expect(Object.is(restored[1], -0)).toBe(true);
    expect(() => bytesToFloat32(new Uint8Array(6))).toThrow(/multiple of 4/);
  });

  test('library version matches package.json', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { name: string; version: string };
    expect(LIBRARY_NAME).toBe(pkg.name);
    expect(LIBRARY_VERSION).toBe(pkg.version);
  });
});

describe('run folder creation', () => {
  test('creates nested folder with run.json', () => {
    const dir = path.join(root, 'runs', 'first');
    const before = Date.now();
    const run = createRunFolder(dir);

    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'run.json'), 'utf8')) as RunManifest;
    expect(manifest.format).toBe('acoustic-lm-run');
    expect(manifest.version).toBe(RUN_FORMAT_VERSION);
    expect(manifest.library).toEqual({ name: 'acoustic-lm', version: LIBRARY_VERSION });
    expect(Date.parse(manifest.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(run.dir).toBe(dir);
    expect(openRunFolder(dir).manifest).toEqual(manifest);
  });

  test('accepts existing empty folder', () => {
    createRunFolder(root);
    expect(fs.readdirSync(root)).toEqual(['run.json']);
  });

  test('rejects non-empty folder without run.json', () => {
    fs.writeFileSync(path.join(root, 'notes.txt'), 'mine');
    const message = errorMessage(() => createRunFolder(root, { overwrite: true }));
    expect(message).toContain(root);
    expect(message).toContain('not an acoustic-lm run folder');
    expect(fs.readdirSync(root)).toEqual(['notes.txt']);
  });

  test('rejects existing run unless overwrite', () => {
    const run = createRunFolder(root);
    run.writeMetrics({ accuracy: 0.5 });
    fs.mkdirSync(path.join(root, 'checkpoint'));
    fs.writeFileSync(path.join(root, 'notes.txt'), 'mine');

    const message = errorMessage(() => createRunFolder(root));
    expect(message).toContain('already contains a run');
    expect(message).toContain('overwrite');
    expect(fs.existsSync(path.join(root, 'metrics.json'))).toBe(true);

    createRunFolder(root, { overwrite: true });
    expect(fs.readdirSync(root).sort()).toEqual(['notes.txt', 'run.json']);
  });

  test('rejects a file path', () => {
    const file = path.join(root, 'file');
    fs.writeFileSync(file, '');
    expect(errorMessage(() => createRunFolder(file))).toContain('is a file, not a folder');
  });
});

describe('run folder validation', () => {
  test('folder without run.json is rejected', () => {
    fs.writeFileSync(path.join(root, 'config.json'), '{}');
    const message = errorMessage(() => openRunFolder(root));
    expect(message).toBe(`${root}: not an acoustic-lm run folder (run.json not found). Pass the folder that a training run created.`);
  });

  test('missing folder is rejected', () => {
    const dir = path.join(root, 'nowhere');
    expect(errorMessage(() => openRunFolder(dir))).toContain(`${dir}: run folder not found`);
  });

  test('unknown format version is rejected', () => {
    createRunFolder(root);
    const file = path.join(root, 'run.json');
    const manifest = JSON.parse(fs.readFileSync(file, 'utf8')) as RunManifest;
    fs.writeFileSync(file, JSON.stringify({ ...manifest, version: 2 }));

    const error = (() => {
      try {
        openRunFolder(root);
      } catch (caught) {
        return caught as RunFolderError;
      }
      throw new Error('expected openRunFolder to throw');
    })();
    expect(error).toBeInstanceOf(RunFolderError);
    expect(error.message).toContain(root);
    expect(error.message).toContain('version 2');
    expect(error.message).toContain('reads version 1');
    expect(error.message).toContain('Upgrade acoustic-lm');
    expect(error.message).not.toContain('\n');
  });

  test('run.json of another format is rejected', () => {
    fs.writeFileSync(path.join(root, 'run.json'), JSON.stringify({ format: 'other-tool', version: 1 }));
    expect(errorMessage(() => openRunFolder(root))).toContain('format "other-tool"');
  });

  test('corrupt run.json names the file', () => {
    fs.writeFileSync(path.join(root, 'run.json'), '{"format": ');
    const message = errorMessage(() => openRunFolder(root));
    expect(message).toContain(path.join(root, 'run.json'));
    expect(message).toContain('invalid JSON');
  });
});

describe('config.json', () => {
  const config: RunConfig = { model: SMALL, training: { epochs: 3, lr: 3e-4, schedule: { warmup: 10 } }, data: { tokens: 'units/', vocab: 20 } };

  test('round trips', () => {
    const run = createRunFolder(root);
    run.writeConfig(config);
    expect(openRunFolder(root).readConfig()).toEqual(config);
  });

  test('invalid config is not written', () => {
    expect(() => writeRunConfig(root, { ...config, model: { ...SMALL, nHeads: 3 } })).toThrow(/divisible/);
    expect(fs.existsSync(path.join(root, 'config.json'))).toBe(false);
  });

  /** Writes config.json with `edit` applied to its model record and returns the read error. */
  function readEditedModel(edit: (model: Record<string, unknown>) => void): string {
    writeRunConfig(root, config);
    const file = path.join(root, 'config.json');
    const record = JSON.parse(fs.readFileSync(file, 'utf8')) as { model: Record<string, unknown> };
    edit(record.model);
    fs.writeFileSync(file, JSON.stringify(record, null, 2));
    const message = errorMessage(() => readRunConfig(root));
    expect(message).toContain(file);
    expect(message).not.toContain('\n');
    return message;
  }

  test('negative nHeads is rejected', () => {
    const message = readEditedModel((model) => {
      model.nHeads = -2;
    });
    expect(message).toContain('nHeads must be a positive integer, received -2');
  });

  test('dModel not divisible by nHeads is rejected', () => {
    const message = readEditedModel((model) => {
      model.dModel = 10;
      model.nHeads = 4;
    });
    expect(message).toContain('dModel (10) must be divisible by nHeads (4)');
  });

  test('string instead of number is rejected', () => {
    const message = readEditedModel((model) => {
      model.dModel = '8';
    });
    expect(message).toContain('model.dModel must be a number, received the string "8"');
  });

  test('missing and unknown fields are rejected', () => {
    expect(readEditedModel((model) => delete model.dFF)).toContain('model.dFF is missing');
    expect(
      readEditedModel((model) => {
        model.nHead = 2;
      }),
    ).toContain('unknown field model.nHead');
  });

  test('dropout out of range is rejected', () => {
    const message = readEditedModel((model) => {
      model.dropout = 1.5;
    });
    expect(message).toContain('dropout must be in [0, 1), received 1.5');
  });

  test('missing config names the file', () => {
    createRunFolder(root);
    const message = errorMessage(() => openRunFolder(root).readConfig());
    expect(message).toContain(`${path.join(root, 'config.json')}: file not found.`);
  });

  test('training record of wrong type is rejected', () => {
    writeRunConfig(root, config);
    const file = path.join(root, 'config.json');
    fs.writeFileSync(file, JSON.stringify({ model: SMALL, training: [1], data: {} }));
    expect(errorMessage(() => readRunConfig(root))).toContain('training must be an object, received an array');
  });
});

describe('weights', () => {
  function randomWeights(layout: ParamLayout, seed: number): Float32Array {
    const rng = new Rng(seed);
    const values = new Float32Array(layout.size);
    for (let i = 0; i < values.length; i++) values[i] = rng.normal();
    values[0] = -0;
    return values;
  }

  test('round trip bit-exactly', () => {
    const { layout, values } = initParams(SMALL, 7);
    values.set(randomWeights(layout, 1));
    saveWeights(root, layout, values);

    const restored = loadWeights(root, layout);
    expect(sameBits(restored, values)).toBe(true);
    expect(Object.is(restored[0], -0)).toBe(true);
    expect(fs.statSync(path.join(root, 'weights.bin')).size).toBe(layout.size * 4);
  });

  test('manifest lists every tensor', () => {
    const layout = buildParamLayout(SMALL);
    saveWeights(root, layout, randomWeights(layout, 2));
    const model = JSON.parse(fs.readFileSync(path.join(root, 'model.json'), 'utf8')) as WeightsFile;

    expect(model.weightsManifest).toHaveLength(1);
    expect(model.weightsManifest[0].paths).toEqual(['weights.bin']);
    expect(model.weightsManifest[0].weights).toEqual(layout.entries.map((e) => ({ name: e.name, shape: e.shape, dtype: 'float32' })));
    expect(model.generatedBy).toBe(`acoustic-lm ${LIBRARY_VERSION}`);
  });

  test('files match tf.io encoding', async () => {
    await tf.setBackend('cpu');
    const layout = buildParamLayout(SMALL);
    const values = randomWeights(layout, 3);
    saveWeights(root, layout, values);

    const model = JSON.parse(fs.readFileSync(path.join(root, 'model.json'), 'utf8')) as WeightsFile;
    const bytes = new Uint8Array(fs.readFileSync(path.join(root, 'weights.bin')));
    const decoded = tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length), model.weightsManifest[0].weights);
    const entry = layout.byName.get('layers.0.w1')!;
    expect(decoded['layers.0.w1'].shape).toEqual(entry.shape);
    expect(sameBits(decoded['layers.0.w1'].dataSync() as Float32Array, values.subarray(entry.offset, entry.offset + entry.size))).toBe(true);

    const tensors = layout.entries.map((e) => ({ name: e.name, tensor: tf.tensor(values.subarray(e.offset, e.offset + e.size), e.shape, 'float32') }));
    const encoded = await tf.io.encodeWeights(tensors);
    expect(Buffer.from(encoded.data).equals(Buffer.from(bytes))).toBe(true);
    tf.dispose([...Object.values(decoded), ...tensors.map((t) => t.tensor)]);
  });

  test('shards and any tensor order load', () => {
    const layout = buildParamLayout(SMALL);
    const values = randomWeights(layout, 4);
    const reversed = [...layout.entries].reverse();
    const ordered = new Float32Array(layout.size);
    let position = 0;
    for (const entry of reversed) {
      ordered.set(values.subarray(entry.offset, entry.offset + entry.size), position);
      position += entry.size;
    }
    const bytes = new Uint8Array(ordered.buffer);
    const cut = 4 * 100;
    fs.writeFileSync(path.join(root, 'shard1.bin'), bytes.subarray(0, cut));
    fs.writeFileSync(path.join(root, 'shard2.bin'), bytes.subarray(cut));
    const weights = reversed.map((e) => ({ name: e.name, shape: e.shape, dtype: 'float32' }));
    fs.writeFileSync(path.join(root, 'model.json'), JSON.stringify({ weightsManifest: [{ paths: ['shard1.bin', 'shard2.bin'], weights }] }));

    expect(sameBits(loadWeights(root, layout), values)).toBe(true);
  });

  test('truncated weights.bin reports sizes', () => {
    const layout = buildParamLayout(SMALL);
    saveWeights(root, layout, randomWeights(layout, 5));
    fs.truncateSync(path.join(root, 'weights.bin'), 1000);

    const message = errorMessage(() => loadWeights(root, layout));
    expect(message).toContain(`weights.bin contains 1000 bytes, but the manifest in model.json needs ${layout.size * 4}`);
  });

  test('other model layout is reported by name', () => {
    const layout = buildParamLayout(SMALL);
    saveWeights(root, layout, randomWeights(layout, 6));

    const wider = buildParamLayout({ ...SMALL, vocabSize: 30 });
    expect(errorMessage(() => loadWeights(root, wider))).toContain('weight "tokEmb" has shape [20, 8], the model needs [30, 8]');

    const deeper = buildParamLayout({ ...SMALL, nLayers: 2 });
    expect(errorMessage(() => loadWeights(root, deeper))).toContain('weight "layers.1.wqkv" with shape [8, 24] is missing');

    const deeperWeights = randomWeights(deeper, 7);
    saveWeights(root, deeper, deeperWeights);
    expect(errorMessage(() => loadWeights(root, layout))).toContain('weight "layers.1.wqkv" is not a parameter of the model');
  });

  test('non-float32 weights are rejected', () => {
    const layout = buildParamLayout(SMALL);
    saveWeights(root, layout, randomWeights(layout, 8));
    const file = path.join(root, 'model.json');
    const model = JSON.parse(fs.readFileSync(file, 'utf8')) as { weightsManifest: { weights: { dtype: string }[] }[] };
    model.weightsManifest[0].weights[3].dtype = 'int32';
    fs.writeFileSync(file, JSON.stringify(model));

    expect(errorMessage(() => loadWeights(root, layout))).toContain(`weight "${layout.entries[3].name}" has dtype "int32"`);
  });

  test('wrong buffer length is rejected', () => {
    const layout = buildParamLayout(SMALL);
    expect(() => saveWeights(root, layout, new Float32Array(layout.size - 1))).toThrow(RangeError);
    expect(fs.readdirSync(root)).toEqual([]);
  });

  test('missing model.json names the file', () => {
    createRunFolder(root);
    const message = errorMessage(() => openRunFolder(root).readWeights(buildParamLayout(SMALL)));
    expect(message).toContain(`${path.join(root, 'model.json')}: file not found.`);
  });
});

describe('split, history and metrics', () => {
  test('split round trips', () => {
    const run = createRunFolder(root);
    const split = { seed: 42, valFraction: 0.25, trainNames: ['a.npy', 'b.npy', 'c.npy'], valNames: ['d.npy'] };
    run.writeSplit(split);
    expect(openRunFolder(root).readSplit()).toEqual(split);
  });

  test('invalid split is rejected', () => {
    const run = createRunFolder(root);
    run.writeSplit({ seed: 1, valFraction: 0.5, trainNames: ['a', 'b'], valNames: ['b'] });
    expect(errorMessage(() => run.readSplit())).toContain('recording "b" is in both trainNames and valNames');

    run.writeSplit({ seed: 1, valFraction: 1.5, trainNames: ['a'], valNames: ['b'] });
    expect(errorMessage(() => run.readSplit())).toContain('valFraction must be in [0, 1], received 1.5');

    fs.writeFileSync(path.join(root, 'split.json'), JSON.stringify({ seed: 1, valFraction: 0.1, trainNames: ['a', 7], valNames: [] }));
    expect(errorMessage(() => run.readSplit())).toContain('trainNames[1] must be a string, received 7');
  });

  test('missing split names the file', () => {
    const run = createRunFolder(root);
    expect(errorMessage(() => run.readSplit())).toContain(`${path.join(root, 'split.json')}: file not found.`);
  });

  test('empty history keeps Infinity', () => {
    const run = createRunFolder(root);
    run.writeHistory(emptyHistory());
    const restored = run.readHistory();
    expect(restored.bestValLoss).toBe(Number.POSITIVE_INFINITY);
    expect(restored).toEqual(emptyHistory());
    expect(fs.readFileSync(path.join(root, 'history.csv'), 'utf8')).toBe(`${HISTORY_CSV_HEADER}\n`);
    expect(fs.readFileSync(path.join(root, 'steps.csv'), 'utf8')).toBe(`${STEPS_CSV_HEADER}\n`);
  });

  test('history round trips with CSV files', () => {
    const history: TrainingHistory = {
      epochs: [
        { epoch: 1, trainLoss: 3.5, valLoss: 3.25, valPerplexity: Math.exp(3.25), valAccuracy: 0.125, seconds: 12.5, tokensPerSecond: 4096 },
        { epoch: 2, trainLoss: Number.NaN, valLoss: Number.NaN, valPerplexity: Number.NaN, valAccuracy: 0, seconds: 11, tokensPerSecond: 4000 },
      ],
      steps: [
        { step: 1, epoch: 1, loss: 3.75, lr: 1e-4 },
        { step: 2, epoch: 2, loss: Number.POSITIVE_INFINITY, lr: 3e-4 },
      ],
      bestEpoch: 1,
      bestValLoss: 3.25,
    };
    const run = createRunFolder(root);
    run.writeHistory(history);

    expect(run.readHistory()).toEqual(history);
    expect(fs.readFileSync(path.join(root, 'history.csv'), 'utf8')).toBe(
      'epoch,train_loss,val_loss,val_perplexity,val_accuracy,seconds,tokens_per_second\n' +
        `1,3.5,3.25,${Math.exp(3.25)},0.125,12.5,4096\n` +
        '2,NaN,NaN,NaN,0,11,4000\n',
    );
    expect(fs.readFileSync(path.join(root, 'steps.csv'), 'utf8')).toBe('step,epoch,loss,lr\n1,1,3.75,0.0001\n2,2,Infinity,0.0003\n');
  });

  test('history with wrong field names it', () => {
    const run = createRunFolder(root);
    fs.writeFileSync(
      path.join(root, 'history.json'),
      JSON.stringify({ epochs: [{ epoch: 1, trainLoss: '3' }], steps: [], bestEpoch: 0, bestValLoss: 'Infinity' }),
    );
    expect(errorMessage(() => run.readHistory())).toContain('epochs[0].trainLoss must be a number, received the string "3"');
  });

  test('metrics round trip', () => {
    const run = createRunFolder(root);
    const metrics = { testLoss: 2.5, perplexity: Number.POSITIVE_INFINITY, perRecording: { a: [1, 2] }, backend: 'wasm' };
    run.writeMetrics(metrics);
    expect(openRunFolder(root).readMetrics()).toEqual(metrics);
    expect(errorMessage(() => createRunFolder(path.join(root, 'other')).readMetrics())).toContain('metrics.json: file not found');
  });
});
