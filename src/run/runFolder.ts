/**
 * The files of a training run, kept together in one run folder:
 *
 * - `run.json`: marks the folder and records the format version;
 * - `config.json`: the model configuration and the trainer's and data loader's options;
 * - `model.json` and `weights.bin`: the trained weights in TensorFlow.js format;
 * - `split.json`: which recordings went to training and which to validation;
 * - `history.json`, `history.csv` and `steps.csv`: per-epoch and per-step metrics;
 * - `metrics.json`: the final metrics;
 * - `checkpoint/`: resumable training state, written by `checkpoint.ts`.
 *
 * Every file is replaced atomically, so a run killed at any moment leaves
 * each file either in its old or in its new version. Every read checks the
 * contents and throws a {@link RunFolderError} that names the file.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

import { checkModelConfig, DEFAULT_MODEL_CONFIG, type ModelConfig } from '../model/config.js';
import type { ParamLayout } from '../model/params.js';
import type { EpochRecord, StepRecord, TrainingHistory } from '../train/history.js';
import { TEMPORARY_SUFFIX, writeFileAtomicSync } from './atomic.js';
import {
  bytesToFloat32,
  CHECKPOINT_DIR,
  CHECKPOINT_STAGING_PREFIX,
  createRunManifest,
  expectArray,
  expectInteger,
  expectNumber,
  expectRecord,
  expectShape,
  expectString,
  expectStringArray,
  float32ToBytes,
  isRunFolder,
  LIBRARY_NAME,
  LIBRARY_VERSION,
  readBinaryFile,
  readJsonFile,
  readRunManifest,
  RETIRED_CHECKPOINT_DIR,
  RUN_FILES,
  RunFolderError,
  type RunManifest,
  stringifyRunJson,
} from './format.js';

// ---------------------------------------------------------------------------
// Types

/** Contents of `config.json`. */
export interface RunConfig {
  /** The model's hyperparameters, checked with `checkModelConfig` on write and on read. */
  model: ModelConfig;
  /** The trainer's options, stored as given. */
  training: Record<string, unknown>;
  /** The data options (token folder, vocabulary, window length), stored as given. */
  data: Record<string, unknown>;
}

/** Contents of `split.json`: the recordings of each side of the train/validation split. */
export interface SplitRecord {
  /** Seed of the shuffle that made the split. */
  seed: number;
  /** Share of recordings held out for validation, in [0, 1]. */
  valFraction: number;
  /** Names of the training recordings. */
  trainNames: string[];
  /** Names of the validation recordings. */
  valNames: string[];
}

/**
 * One group of a TensorFlow.js weights manifest, as this library writes it.
 * It is a valid `tf.io.WeightsManifestGroupConfig`.
 */
export interface WeightsManifestGroup {
  /** Files whose concatenated bytes hold the group's weights, relative to model.json. */
  paths: string[];
  /** The weights in the order their bytes follow each other. */
  weights: { name: string; shape: number[]; dtype: 'float32' }[];
}

/** Contents of `model.json`: a TensorFlow.js weights manifest without a model topology. */
export interface WeightsFile {
  /** Library and version that wrote the file. */
  generatedBy: string;
  weightsManifest: WeightsManifestGroup[];
}

/** Options of {@link createRunFolder}. */
export interface CreateRunFolderOptions {
  /**
   * Replace an existing run in the folder. Default: false, so an existing run
   * is never lost by accident. Replacing removes the run files listed in the
   * module header and the checkpoint folders, and keeps any other file.
   */
  overwrite?: boolean;
}

/** An open run folder: its path, `run.json`, and readers and writers of each run file. */
export interface RunFolder {
  /** Path of the folder. */
  readonly dir: string;
  /** Contents of `run.json`. */
  readonly manifest: RunManifest;
  /** Reads `config.json`; see {@link readRunConfig}. */
  readConfig(): RunConfig;
  /** Reads `model.json` and `weights.bin`; see {@link loadWeights}. */
  readWeights(layout: ParamLayout): Float32Array;
  /** Reads `split.json`; see {@link readSplit}. */
  readSplit(): SplitRecord;
  /** Reads `history.json`; see {@link readHistory}. */
  readHistory(): TrainingHistory;
  /** Reads `metrics.json`; see {@link readMetrics}. */
  readMetrics(): Record<string, unknown>;
  /** Writes `config.json`; see {@link writeRunConfig}. */
  writeConfig(config: RunConfig): void;
  /** Writes `model.json` and `weights.bin`; see {@link saveWeights}. */
  writeWeights(layout: ParamLayout, values: Float32Array): void;
  /** Writes `split.json`; see {@link writeSplit}. */
  writeSplit(split: SplitRecord): void;
  /** Writes `history.json`, `history.csv` and `steps.csv`; see {@link writeHistory}. */
  writeHistory(history: TrainingHistory): void;
  /** Writes `metrics.json`; see {@link writeMetrics}. */
  writeMetrics(metrics: Record<string, unknown>): void;
}

// ---------------------------------------------------------------------------
// Creating and opening

/**
 * Creates a run folder, or empties an existing run for a new one, and writes
 * its `run.json`. Missing parent folders are created.
 *
 * @param dir - the folder; it may be missing, empty, or an existing run when
 *   `overwrite` is set.
 * @param options - see {@link CreateRunFolderOptions}.
 * @returns the open folder.
 * @throws RunFolderError when `dir` is a file, when it is a non-empty folder
 *   that is not a run folder, or when it contains a run and `overwrite` is false.
 *
 * @example
 * const run = createRunFolder('runs/hubert-100', { overwrite: true });
 * run.writeConfig({ model, training: { epochs: 10 }, data: { tokens: 'units/' } });
 */
export function createRunFolder(dir: string, options: CreateRunFolderOptions = {}): RunFolder {
  const overwrite = options.overwrite ?? false;

  if (fs.existsSync(dir)) {
    if (!fs.statSync(dir).isDirectory()) {
      throw new RunFolderError(dir, 'the path is a file, not a folder', 'Choose a new folder for the run.');
    }
    const entries = fs.readdirSync(dir);
    if (entries.length > 0 && !isRunFolder(dir)) {
      throw new RunFolderError(
        dir,
        `the folder is not empty and is not an acoustic-lm run folder (no valid ${RUN_FILES.run})`,
        'Choose a new or empty folder for the run.',
      );
    }
    if (entries.length > 0 && !overwrite) {
      throw new RunFolderError(dir, 'the folder already contains a run', 'Choose another folder, or set the overwrite option to replace the run.');
    }
    if (entries.length > 0) {
      removeRunFiles(dir, entries);
    }
  } else {
    fs.mkdirSync(dir, { recursive: true });
  }

  // run.json is written last, so a crash while replacing a run leaves the
  // folder marked as a run folder and a second attempt can replace it.
  const manifest = createRunManifest();
  writeFileAtomicSync(path.join(dir, RUN_FILES.run), stringifyRunJson(manifest));
  return runFolderHandle(dir, manifest);
}

/** Removes what this library writes into a run folder, except `run.json`. */
function removeRunFiles(dir: string, entries: string[]): void {
  const runFiles = new Set<string>(Object.values(RUN_FILES));
  for (const entry of entries) {
    const isLibraryFile = runFiles.has(entry) && entry !== RUN_FILES.run;
    const isCheckpoint = entry === CHECKPOINT_DIR || entry === RETIRED_CHECKPOINT_DIR || entry.startsWith(CHECKPOINT_STAGING_PREFIX);
    const isLeftover = entry.startsWith('.') && entry.endsWith(TEMPORARY_SUFFIX);
    if (isLibraryFile || isCheckpoint || isLeftover) {
      fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
    }
  }
}

/**
 * Opens an existing run folder after checking its `run.json`.
 *
 * @param dir - the run folder.
 * @returns the open folder; its readers check each file when called.
 * @throws RunFolderError when the folder is missing, is not a run folder, or
 *   has a format version this library cannot read (see `readRunManifest`).
 */
export function openRunFolder(dir: string): RunFolder {
  return runFolderHandle(dir, readRunManifest(dir));
}

function runFolderHandle(dir: string, manifest: RunManifest): RunFolder {
  return {
    dir,
    manifest,
    readConfig: () => readRunConfig(dir),
    readWeights: (layout) => loadWeights(dir, layout),
    readSplit: () => readSplit(dir),
    readHistory: () => readHistory(dir),
    readMetrics: () => readMetrics(dir),
    writeConfig: (config) => writeRunConfig(dir, config),
    writeWeights: (layout, values) => saveWeights(dir, layout, values),
    writeSplit: (split) => writeSplit(dir, split),
    writeHistory: (history) => writeHistory(dir, history),
    writeMetrics: (metrics) => writeMetrics(dir, metrics),
  };
}

// ---------------------------------------------------------------------------
// config.json

const REWRITE_REMEDY = 'Correct the value in the file, or let acoustic-lm write the file again.';

/** Fields of a model configuration, with the JSON type each must have. */
function modelConfigFields(): [keyof ModelConfig, string][] {
  const fields: [keyof ModelConfig, string][] = [['vocabSize', 'number']];
  for (const [key, value] of Object.entries(DEFAULT_MODEL_CONFIG)) {
    fields.push([key as keyof ModelConfig, typeof value]);
  }
  return fields;
}

/**
 * Writes `config.json` atomically.
 *
 * @param dir - the run folder.
 * @param config - the model configuration and the opaque training and data records.
 * @throws Error from `checkModelConfig` for an invalid model configuration,
 *   before anything is written.
 */
export function writeRunConfig(dir: string, config: RunConfig): void {
  checkModelConfig(config.model);
  const record = { model: config.model, training: config.training, data: config.data };
  writeFileAtomicSync(path.join(dir, RUN_FILES.config), stringifyRunJson(record));
}

/**
 * Reads `config.json` and checks the model configuration again, so a file
 * edited by hand into an invalid model is caught before training starts.
 *
 * @param dir - the run folder.
 * @throws RunFolderError naming the file, the field, the value and what is
 *   allowed: for a missing file or invalid JSON, an unknown or missing model
 *   field, a value of the wrong JSON type (a string where a number belongs),
 *   or a value `checkModelConfig` rejects.
 */
export function readRunConfig(dir: string): RunConfig {
  const file = path.join(dir, RUN_FILES.config);
  const record = expectRecord(readJsonFile(file, 'Restore config.json, or train the run again.'), file, '');
  return {
    model: parseModelConfig(record.model, file),
    training: expectRecord(record.training, file, 'training'),
    data: expectRecord(record.data, file, 'data'),
  };
}

function parseModelConfig(value: unknown, file: string): ModelConfig {
  const record = expectRecord(value, file, 'model');
  const fields = modelConfigFields();
  const names = fields.map(([name]) => name as string);

  for (const key of Object.keys(record)) {
    if (!names.includes(key)) {
      throw new RunFolderError(file, `unknown field model.${key}`, `Remove it; the model fields are ${names.join(', ')}.`);
    }
  }
  for (const [name, type] of fields) {
    const field = record[name];
    if (field === undefined) {
      throw new RunFolderError(file, `model.${name} is missing`, `Add it; the model fields are ${names.join(', ')}.`);
    }
    if (type === 'number') expectNumber(field, file, `model.${name}`);
    if (type === 'string') expectString(field, file, `model.${name}`);
  }

  const config = record as unknown as ModelConfig;
  try {
    checkModelConfig(config);
  } catch (error) {
    // checkModelConfig's message names the field, the value and what is allowed.
    const message = (error as Error).message.replace(/\.$/, '');
    throw new RunFolderError(file, message.charAt(0).toLowerCase() + message.slice(1), REWRITE_REMEDY, error);
  }
  return config;
}

// ---------------------------------------------------------------------------
// model.json and weights.bin

const WEIGHTS_REMEDY = 'Save the weights again, or train the run again.';

/**
 * Writes the weights in TensorFlow.js format: `weights.bin` contains the
 * little-endian float32 values of each tensor in layout order, and
 * `model.json` contains the weights manifest that names them. Both are written
 * atomically, `weights.bin` first.
 *
 * NOTE: a crash between the two writes leaves the new `weights.bin` beside
 * the old `model.json`. {@link loadWeights} rejects that pair when the two
 * layouts differ in size, and reads the new values when they are equal.
 *
 * @param dir - the run folder.
 * @param layout - names, shapes and offsets of the parameters.
 * @param values - the flat parameter buffer, `layout.size` values long.
 * @throws RangeError when `values` has the wrong length, before anything is written.
 */
export function saveWeights(dir: string, layout: ParamLayout, values: Float32Array): void {
  if (values.length !== layout.size) {
    throw new RangeError(`saveWeights: the parameter buffer has ${values.length} values, the layout needs ${layout.size}.`);
  }

  writeFileAtomicSync(path.join(dir, RUN_FILES.weights), layoutOrderedBytes(layout, values));

  const manifest: WeightsFile = {
    generatedBy: `${LIBRARY_NAME} ${LIBRARY_VERSION}`,
    weightsManifest: [
      {
        paths: [RUN_FILES.weights],
        weights: layout.entries.map((entry) => ({ name: entry.name, shape: [...entry.shape], dtype: 'float32' as const })),
      },
    ],
  };
  writeFileAtomicSync(path.join(dir, RUN_FILES.model), stringifyRunJson(manifest));
}

/** Returns the bytes of every tensor in `layout.entries` order, without a copy when that order is the buffer's. */
function layoutOrderedBytes(layout: ParamLayout, values: Float32Array): Uint8Array {
  let offset = 0;
  const contiguous = layout.entries.every((entry) => {
    const inOrder = entry.offset === offset;
    offset += entry.size;
    return inOrder;
  });
  if (contiguous && offset === values.length) {
    return float32ToBytes(values);
  }

  const ordered = new Float32Array(offset);
  let position = 0;
  for (const entry of layout.entries) {
    ordered.set(values.subarray(entry.offset, entry.offset + entry.size), position);
    position += entry.size;
  }
  return float32ToBytes(ordered);
}

/**
 * Reads weights written by {@link saveWeights}, or by TensorFlow.js, into a
 * flat buffer ordered by `layout`. Manifests with several groups or shard
 * files are read too; tensors may come in any order.
 *
 * @param dir - the run folder.
 * @param layout - the parameters the model expects.
 * @returns a new buffer of `layout.size` values.
 * @throws RunFolderError naming the file when `model.json` or a weights file
 *   is missing or malformed, a weight is not float32 or is quantised, a
 *   weight is missing, unexpected, listed twice or has another shape than
 *   the layout, or a weights file has a different size than the manifest needs.
 */
export function loadWeights(dir: string, layout: ParamLayout): Float32Array {
  const modelFile = path.join(dir, RUN_FILES.model);
  const groups = parseWeightsManifest(readJsonFile(modelFile, WEIGHTS_REMEDY), modelFile);
  const values = new Float32Array(layout.size);
  const seen = new Set<string>();

  for (const group of groups) {
    const bytes = readGroupBytes(dir, group, modelFile);
    let byteOffset = 0;
    for (const weight of group.weights) {
      const entry = layout.byName.get(weight.name);
      if (entry === undefined) {
        throw new RunFolderError(
          modelFile,
          `weight "${weight.name}" is not a parameter of the model`,
          'The weights belong to another model configuration; check config.json.',
        );
      }
      if (seen.has(weight.name)) {
        throw new RunFolderError(modelFile, `weight "${weight.name}" is listed twice`, WEIGHTS_REMEDY);
      }
      if (!sameShape(weight.shape, entry.shape)) {
        throw new RunFolderError(
          modelFile,
          `weight "${weight.name}" has shape [${weight.shape.join(', ')}], the model needs [${entry.shape.join(', ')}]`,
          'The weights belong to another model configuration; check config.json.',
        );
      }
      seen.add(weight.name);
      values.set(bytesToFloat32(bytes.subarray(byteOffset, byteOffset + entry.size * 4)), entry.offset);
      byteOffset += entry.size * 4;
    }
  }

  const missing = layout.entries.find((entry) => !seen.has(entry.name));
  if (missing !== undefined) {
    throw new RunFolderError(
      modelFile,
      `weight "${missing.name}" with shape [${missing.shape.join(', ')}] is missing`,
      'The weights belong to another model configuration; check config.json.',
    );
  }
  return values;
}

function parseWeightsManifest(value: unknown, file: string): WeightsManifestGroup[] {
  const record = expectRecord(value, file, '');
  const groups = expectArray(record.weightsManifest, file, 'weightsManifest');

  return groups.map((groupValue, groupIndex) => {
    const field = `weightsManifest[${groupIndex}]`;
    const group = expectRecord(groupValue, file, field);
    const paths = expectStringArray(group.paths, file, `${field}.paths`);
    for (const name of paths) {
      if (name === '' || name.includes('/') || name.includes('\\') || name === '.' || name === '..') {
        throw new RunFolderError(
          file,
          `${field}.paths contains "${name}", which is not a file name`,
          'List weight files by name; they must sit beside model.json.',
        );
      }
    }

    const weights = expectArray(group.weights, file, `${field}.weights`).map((weightValue, index) => {
      const weightField = `${field}.weights[${index}]`;
      const weight = expectRecord(weightValue, file, weightField);
      const name = expectString(weight.name, file, `${weightField}.name`);
      const shape = expectShape(weight.shape, file, `${weightField}.shape`);
      if (weight.dtype !== 'float32' || weight.quantization !== undefined) {
        const kind = weight.quantization === undefined ? `dtype ${JSON.stringify(weight.dtype)}` : 'quantisation';
        throw new RunFolderError(file, `weight "${name}" has ${kind}`, 'Only unquantised float32 weights can be read; save them again without quantisation.');
      }
      return { name, shape, dtype: 'float32' as const };
    });
    return { paths, weights };
  });
}

/** Reads and concatenates a group's files, checking their total size against the manifest. */
function readGroupBytes(dir: string, group: WeightsManifestGroup, modelFile: string): Uint8Array {
  const parts = group.paths.map((name) => readBinaryFile(path.join(dir, name), `It is listed in ${path.basename(modelFile)}. ${WEIGHTS_REMEDY}`));
  const total = parts.reduce((sum, part) => sum + part.length, 0);
  const needed = group.weights.reduce((sum, weight) => sum + 4 * weight.shape.reduce((a, b) => a * b, 1), 0);

  if (total !== needed) {
    const files = group.paths.join(' + ');
    throw new RunFolderError(
      path.join(dir, group.paths[0] ?? ''),
      `${files} contains ${total} bytes, but the manifest in ${path.basename(modelFile)} needs ${needed}`,
      'The weights file is truncated or belongs to another model; save the weights again.',
    );
  }
  if (parts.length === 1) return parts[0];

  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    bytes.set(part, offset);
    offset += part.length;
  }
  return bytes;
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((size, index) => size === b[index]);
}

// ---------------------------------------------------------------------------
// split.json

/**
 * Writes `split.json` atomically.
 *
 * @param dir - the run folder.
 * @param split - the split's seed, validation share and recording names.
 */
export function writeSplit(dir: string, split: SplitRecord): void {
  const record: SplitRecord = { seed: split.seed, valFraction: split.valFraction, trainNames: split.trainNames, valNames: split.valNames };
  writeFileAtomicSync(path.join(dir, RUN_FILES.split), stringifyRunJson(record));
}

/**
 * Reads `split.json`.
 *
 * @param dir - the run folder.
 * @throws RunFolderError naming the file when it is missing or not valid
 *   JSON, a field has the wrong type, `valFraction` is outside [0, 1], or a
 *   recording appears on both sides of the split.
 */
export function readSplit(dir: string): SplitRecord {
  const file = path.join(dir, RUN_FILES.split);
  const record = expectRecord(readJsonFile(file, 'Restore split.json, or train the run again.'), file, '');
  const split: SplitRecord = {
    seed: expectNumber(record.seed, file, 'seed'),
    valFraction: expectNumber(record.valFraction, file, 'valFraction'),
    trainNames: expectStringArray(record.trainNames, file, 'trainNames'),
    valNames: expectStringArray(record.valNames, file, 'valNames'),
  };

  if (!(split.valFraction >= 0 && split.valFraction <= 1)) {
    throw new RunFolderError(file, `valFraction must be in [0, 1], received ${split.valFraction}`, REWRITE_REMEDY);
  }
  const train = new Set(split.trainNames);
  const overlap = split.valNames.find((name) => train.has(name));
  if (overlap !== undefined) {
    throw new RunFolderError(
      file,
      `recording "${overlap}" is in both trainNames and valNames`,
      'Each recording belongs to one side; fix the lists or train the run again.',
    );
  }
  return split;
}

// ---------------------------------------------------------------------------
// history.json, history.csv and steps.csv

/** Header of `history.csv`, one row per epoch. */
export const HISTORY_CSV_HEADER = 'epoch,train_loss,val_loss,val_perplexity,val_accuracy,seconds,tokens_per_second';

/** Header of `steps.csv`, one row per optimiser step. */
export const STEPS_CSV_HEADER = 'step,epoch,loss,lr';

/**
 * Writes the training history as `history.json` (read back by
 * {@link readHistory}), and as `history.csv` and `steps.csv` for
 * spreadsheets and pandas. Each file is written atomically. Non-finite
 * numbers appear as NaN, Infinity or -Infinity in both formats.
 *
 * @param dir - the run folder.
 * @param history - the epochs, steps and best epoch so far.
 */
export function writeHistory(dir: string, history: TrainingHistory): void {
  writeFileAtomicSync(path.join(dir, RUN_FILES.history), stringifyRunJson(history));
  writeFileAtomicSync(path.join(dir, RUN_FILES.historyCsv), formatHistoryCsv(history.epochs));
  writeFileAtomicSync(path.join(dir, RUN_FILES.stepsCsv), formatStepsCsv(history.steps));
}

/** Formats per-epoch metrics as `history.csv`, header included. */
export function formatHistoryCsv(epochs: readonly EpochRecord[]): string {
  const rows = epochs.map((e) => [e.epoch, e.trainLoss, e.valLoss, e.valPerplexity, e.valAccuracy, e.seconds, e.tokensPerSecond].map(String).join(','));
  return [HISTORY_CSV_HEADER, ...rows].join('\n') + '\n';
}

/** Formats per-step losses as `steps.csv`, header included. */
export function formatStepsCsv(steps: readonly StepRecord[]): string {
  const rows = steps.map((s) => [s.step, s.epoch, s.loss, s.lr].map(String).join(','));
  return [STEPS_CSV_HEADER, ...rows].join('\n') + '\n';
}

/**
 * Reads `history.json`.
 *
 * @param dir - the run folder.
 * @throws RunFolderError naming the file and field when the file is missing,
 *   not valid JSON, or a record lacks a field or has one of the wrong type.
 */
export function readHistory(dir: string): TrainingHistory {
  const file = path.join(dir, RUN_FILES.history);
  return parseHistory(readJsonFile(file, 'Restore history.json, or train the run again.'), file, '');
}

/**
 * Checks a parsed training history field by field.
 *
 * @param value - the parsed JSON.
 * @param file - the file it came from, for messages.
 * @param field - path of the history inside the file, '' at the top level.
 * @throws RunFolderError naming the file and the first invalid field.
 */
export function parseHistory(value: unknown, file: string, field: string): TrainingHistory {
  const prefix = field === '' ? '' : `${field}.`;
  const record = expectRecord(value, file, field);

  const epochs = expectArray(record.epochs, file, `${prefix}epochs`).map((item, index): EpochRecord => {
    const at = `${prefix}epochs[${index}]`;
    const epoch = expectRecord(item, file, at);
    return {
      epoch: expectInteger(epoch.epoch, file, `${at}.epoch`, 1),
      trainLoss: expectNumber(epoch.trainLoss, file, `${at}.trainLoss`),
      valLoss: expectNumber(epoch.valLoss, file, `${at}.valLoss`),
      valPerplexity: expectNumber(epoch.valPerplexity, file, `${at}.valPerplexity`),
      valAccuracy: expectNumber(epoch.valAccuracy, file, `${at}.valAccuracy`),
      seconds: expectNumber(epoch.seconds, file, `${at}.seconds`),
      tokensPerSecond: expectNumber(epoch.tokensPerSecond, file, `${at}.tokensPerSecond`),
    };
  });

  const steps = expectArray(record.steps, file, `${prefix}steps`).map((item, index): StepRecord => {
    const at = `${prefix}steps[${index}]`;
    const step = expectRecord(item, file, at);
    return {
      step: expectInteger(step.step, file, `${at}.step`, 1),
      epoch: expectInteger(step.epoch, file, `${at}.epoch`, 1),
      loss: expectNumber(step.loss, file, `${at}.loss`),
      lr: expectNumber(step.lr, file, `${at}.lr`),
    };
  });

  return {
    epochs,
    steps,
    bestEpoch: expectInteger(record.bestEpoch, file, `${prefix}bestEpoch`, 0),
    bestValLoss: expectNumber(record.bestValLoss, file, `${prefix}bestValLoss`),
  };
}

// ---------------------------------------------------------------------------
// metrics.json

/**
 * Writes `metrics.json` atomically. Non-finite numbers are stored as the
 * strings "NaN", "Infinity" and "-Infinity" and read back as numbers.
 *
 * @param dir - the run folder.
 * @param metrics - any JSON-serialisable record.
 * @throws TypeError for values JSON cannot hold (cycles, BigInt).
 */
export function writeMetrics(dir: string, metrics: Record<string, unknown>): void {
  writeFileAtomicSync(path.join(dir, RUN_FILES.metrics), stringifyRunJson(metrics));
}

/**
 * Reads `metrics.json`.
 *
 * @param dir - the run folder.
 * @throws RunFolderError naming the file when it is missing, not valid JSON or not an object.
 */
export function readMetrics(dir: string): Record<string, unknown> {
  const file = path.join(dir, RUN_FILES.metrics);
  return expectRecord(readJsonFile(file, 'The run has no final metrics yet; evaluate it or train it to the end.'), file, '');
}
