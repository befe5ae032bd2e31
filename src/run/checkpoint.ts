/**
 * Resumable training state, kept in `<run>/checkpoint/`:
 *
 * - `state.json`: counters, generator state, history, best epoch, and the
 *   size and CRC-32 of each binary file;
 * - `params.bin`, `adam_m.bin`, `adam_v.bin` and, once an epoch has been
 *   validated, `best_params.bin`: little-endian float32 arrays in layout order.
 *
 * A save never writes into the current checkpoint folder. It writes a complete
 * new folder `checkpoint.tmp-<pid>-<n>/` and swaps it in with two renames:
 *
 * 1. stage: write every file into the staging folder and flush it to disk;
 * 2. retire: rename `checkpoint/` to `checkpoint.old/`;
 * 3. install: rename the staging folder to `checkpoint/`;
 * 4. clean up: remove `checkpoint.old/`.
 *
 * A process killed at any moment therefore leaves either `checkpoint/` or
 * `checkpoint.old/` complete, and {@link loadCheckpoint} reads the first of
 * the two that exists. Staging folders are never read, and the next save
 * removes them.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';

import type { ParamLayout } from '../model/params.js';
import type { RngState } from '../random.js';
import type { TrainingHistory } from '../train/history.js';
import { fsyncDirectorySync, writeFileAtomicSync } from './atomic.js';
import {
  bytesToFloat32,
  CHECKPOINT_DIR,
  CHECKPOINT_STAGING_PREFIX,
  crc32,
  expectArray,
  expectInteger,
  expectNumber,
  expectRecord,
  expectShape,
  expectString,
  float32ToBytes,
  readBinaryFile,
  readJsonFile,
  RETIRED_CHECKPOINT_DIR,
  RunFolderError,
  stringifyRunJson,
} from './format.js';
import { parseHistory } from './runFolder.js';

/** Value of the `format` field of a checkpoint's `state.json`. */
export const CHECKPOINT_FORMAT = 'acoustic-lm-checkpoint';

/** Checkpoint format version written by this library, and the only one it reads. */
export const CHECKPOINT_FORMAT_VERSION = 1;

/** Names of the files in a checkpoint folder. */
export const CHECKPOINT_FILES = {
  state: 'state.json',
  params: 'params.bin',
  adamM: 'adam_m.bin',
  adamV: 'adam_v.bin',
  bestParams: 'best_params.bin',
} as const;

/** Everything besides the float arrays that the trainer needs to continue a run exactly. */
export interface TrainingState {
  /** Epochs completed. */
  epoch: number;
  /** Steps completed inside the current (unfinished) epoch. */
  stepInEpoch: number;
  /** Optimiser steps completed since the start of the run. */
  globalStep: number;
  /** State of the trainer's random generator at the checkpoint. */
  rngState: RngState;
  /** Seed of the current epoch's batch order, if the trainer draws one. */
  epochOrderSeed?: number;
  /** Any other JSON-serialisable values the trainer needs to resume. */
  extra: Record<string, unknown>;
  /** Metrics recorded so far. */
  history: TrainingHistory;
  /** Lowest validation loss so far; Infinity before the first validation. */
  bestValLoss: number;
  /** Epoch of `bestValLoss`, or 0 before the first validation. */
  bestEpoch: number;
  /** Adam's step counter t, used for bias correction. */
  adamStep: number;
}

/** A complete training checkpoint. Every array has `layout.size` values. */
export interface Checkpoint {
  /** Counters, random state and history needed to continue the run exactly. */
  state: TrainingState;
  /** Current parameters. */
  params: Float32Array;
  /** Adam's first-moment estimates. */
  adamM: Float32Array;
  /** Adam's second-moment estimates. */
  adamV: Float32Array;
  /** Parameters of the best epoch so far, or null before the first validation. */
  bestParams: Float32Array | null;
}

type BinaryKey = 'params' | 'adamM' | 'adamV' | 'bestParams';

const BINARY_KEYS: readonly BinaryKey[] = ['params', 'adamM', 'adamV', 'bestParams'];

const BINARY_FILE_NAMES = new Set<string>(BINARY_KEYS.map((key) => CHECKPOINT_FILES[key]));

/** Size and checksum of one binary file, as recorded in `state.json`. */
interface BinaryRecord {
  file: string;
  bytes: number;
  crc32: number;
}

/** Contents of a checkpoint's `state.json`. */
interface StateFile {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  savedAt: string;
  /** Names and shapes of the parameters, so a checkpoint is never loaded into another model. */
  parameters: { name: string; shape: number[] }[];
  binaries: Record<BinaryKey, BinaryRecord | null>;
  state: TrainingState;
}

const RESTART_REMEDY = 'Delete the checkpoint folder to train from the start.';

// ---------------------------------------------------------------------------
// Saving

/**
 * Saves a checkpoint so that a crash or `kill -9` at any moment leaves the
 * previous or the new checkpoint complete and loadable. Synchronous, so a
 * signal handler can call it before the process exits.
 *
 * @param runDir - the run folder; it must exist.
 * @param layout - the parameter layout all four arrays follow.
 * @param checkpoint - the state and arrays to save; `state.extra` must be
 *   JSON-serialisable.
 * @throws RangeError when an array does not have `layout.size` values, and
 *   Error when the training state has an invalid field; both before anything
 *   is written.
 * @throws Error from node:fs when the run folder is missing or not writable.
 *   The previous checkpoint is then still loadable.
 *
 * @example
 * saveCheckpoint('runs/a', layout, { state, params, adamM, adamV, bestParams });
 */
export function saveCheckpoint(runDir: string, layout: ParamLayout, checkpoint: Checkpoint): void {
  const staging = stageCheckpoint(runDir, layout, checkpoint);
  retireCheckpoint(runDir);
  installCheckpoint(runDir, staging);
  removeRetiredCheckpoint(runDir);
}

let stagingCounter = 0;

/**
 * Stage 1 of {@link saveCheckpoint}: removes staging folders left by earlier
 * interrupted saves, then writes every file of `checkpoint` into a new
 * staging folder, `state.json` last.
 *
 * @internal Exported so tests can interrupt a save between stages.
 * @returns the path of the staging folder.
 * @throws as {@link saveCheckpoint} does.
 */
export function stageCheckpoint(runDir: string, layout: ParamLayout, checkpoint: Checkpoint): string {
  checkArrayLengths(layout, checkpoint);
  checkStateBeforeSave(checkpoint.state);
  removeStagingFolders(runDir);

  stagingCounter += 1;
  const staging = path.join(runDir, `${CHECKPOINT_STAGING_PREFIX}${process.pid}-${stagingCounter}`);
  fs.mkdirSync(staging);

  const binaries: Record<BinaryKey, BinaryRecord | null> = { params: null, adamM: null, adamV: null, bestParams: null };
  for (const key of BINARY_KEYS) {
    const values = checkpoint[key];
    if (values === null) continue;
    const bytes = float32ToBytes(values);
    writeFileAtomicSync(path.join(staging, CHECKPOINT_FILES[key]), bytes);
    binaries[key] = { file: CHECKPOINT_FILES[key], bytes: bytes.length, crc32: crc32(bytes) };
  }

  const stateFile: StateFile = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_FORMAT_VERSION,
    savedAt: new Date().toISOString(),
    parameters: layout.entries.map((entry) => ({ name: entry.name, shape: [...entry.shape] })),
    binaries,
    state: checkpoint.state,
  };
  writeFileAtomicSync(path.join(staging, CHECKPOINT_FILES.state), stringifyRunJson(stateFile));
  return staging;
}

/**
 * Stage 2 of {@link saveCheckpoint}: renames `checkpoint/` to
 * `checkpoint.old/`. When `checkpoint/` is missing, a `checkpoint.old/` left
 * by an interrupted save is the last complete checkpoint and stays.
 *
 * @internal Exported so tests can interrupt a save between stages.
 */
export function retireCheckpoint(runDir: string): void {
  const current = path.join(runDir, CHECKPOINT_DIR);
  const retired = path.join(runDir, RETIRED_CHECKPOINT_DIR);
  if (!fs.existsSync(current)) return;

  // A checkpoint.old beside a checkpoint is left over from a save that was
  // interrupted during clean-up, and the current folder supersedes it.
  fs.rmSync(retired, { recursive: true, force: true });
  fs.renameSync(current, retired);
  fsyncDirectorySync(runDir);
}

/**
 * Stage 3 of {@link saveCheckpoint}: renames the staging folder to `checkpoint/`.
 *
 * @internal Exported so tests can interrupt a save between stages.
 */
export function installCheckpoint(runDir: string, staging: string): void {
  fs.renameSync(staging, path.join(runDir, CHECKPOINT_DIR));
  fsyncDirectorySync(runDir);
}

/**
 * Stage 4 of {@link saveCheckpoint}: removes `checkpoint.old/`.
 *
 * @internal Exported so tests can interrupt a save between stages.
 */
export function removeRetiredCheckpoint(runDir: string): void {
  fs.rmSync(path.join(runDir, RETIRED_CHECKPOINT_DIR), { recursive: true, force: true });
  fsyncDirectorySync(runDir);
}

function removeStagingFolders(runDir: string): void {
  // NOTE: this also removes the staging folder of another process saving
  // into the same run at the same moment; one run has one trainer.
  for (const entry of fs.readdirSync(runDir)) {
    if (entry.startsWith(CHECKPOINT_STAGING_PREFIX)) {
      fs.rmSync(path.join(runDir, entry), { recursive: true, force: true });
    }
  }
}

/**
 * Removes the checkpoint of a run, including folders left by interrupted
 * saves, for example once training has finished. Does nothing when there is
 * no checkpoint.
 *
 * @param runDir - the run folder.
 */
export function removeCheckpoint(runDir: string): void {
  if (!fs.existsSync(runDir)) return;
  removeStagingFolders(runDir);
  fs.rmSync(path.join(runDir, CHECKPOINT_DIR), { recursive: true, force: true });
  fs.rmSync(path.join(runDir, RETIRED_CHECKPOINT_DIR), { recursive: true, force: true });
  fsyncDirectorySync(runDir);
}

function checkArrayLengths(layout: ParamLayout, checkpoint: Checkpoint): void {
  for (const key of BINARY_KEYS) {
    const values = checkpoint[key];
    if (values !== null && values.length !== layout.size) {
      throw new RangeError(`saveCheckpoint: ${key} has ${values.length} values, the parameter layout has ${layout.size}.`);
    }
  }
}

/** Rejects a state that {@link loadCheckpoint} would reject, so the error shows at save time, not on resume. */
function checkStateBeforeSave(state: TrainingState): void {
  try {
    parseTrainingState(state, 'state');
  } catch (error) {
    if (!(error instanceof RunFolderError)) throw error;
    throw new Error(`saveCheckpoint: invalid training state: ${error.reason}. Nothing was written.`, { cause: error });
  }
}

// ---------------------------------------------------------------------------
// Loading

/**
 * Loads the last complete checkpoint of a run: `checkpoint/`, or
 * `checkpoint.old/` when a save was interrupted between its two renames.
 * Staging folders are ignored.
 *
 * @param runDir - the run folder.
 * @param layout - the parameter layout of the model being resumed.
 * @returns the checkpoint with new arrays, or null when the run has none.
 * @throws RunFolderError naming the file when `state.json` is missing,
 *   invalid or from an unsupported version, when the checkpoint was saved
 *   for another parameter layout, or when a binary file is missing or its
 *   size or CRC-32 does not match `state.json`.
 */
export function loadCheckpoint(runDir: string, layout: ParamLayout): Checkpoint | null {
  for (const name of [CHECKPOINT_DIR, RETIRED_CHECKPOINT_DIR]) {
    const folder = path.join(runDir, name);
    if (fs.existsSync(folder)) return readCheckpointFolder(folder, layout);
  }
  return null;
}

function readCheckpointFolder(folder: string, layout: ParamLayout): Checkpoint {
  const stateFile = path.join(folder, CHECKPOINT_FILES.state);
  const record = expectRecord(readJsonFile(stateFile, RESTART_REMEDY), stateFile, '');
  checkVersion(record, stateFile);
  checkLayout(record.parameters, layout, stateFile);
  const state = parseTrainingState(record.state, stateFile);

  const binaries = expectRecord(record.binaries, stateFile, 'binaries');
  const arrays = {} as Record<BinaryKey, Float32Array | null>;
  for (const key of BINARY_KEYS) {
    const entry = binaries[key];
    if (entry === null && key === 'bestParams') {
      arrays[key] = null;
      continue;
    }
    arrays[key] = readBinary(folder, parseBinaryRecord(entry, stateFile, `binaries.${key}`), layout);
  }

  return {
    state,
    params: arrays.params as Float32Array,
    adamM: arrays.adamM as Float32Array,
    adamV: arrays.adamV as Float32Array,
    bestParams: arrays.bestParams,
  };
}

function checkVersion(record: Record<string, unknown>, stateFile: string): void {
  if (record.format !== CHECKPOINT_FORMAT) {
    throw new RunFolderError(
      stateFile,
      `not a checkpoint state file (format ${JSON.stringify(record.format)}, expected "${CHECKPOINT_FORMAT}")`,
      RESTART_REMEDY,
    );
  }
  if (record.version !== CHECKPOINT_FORMAT_VERSION) {
    throw new RunFolderError(
      stateFile,
      `unsupported checkpoint format version ${JSON.stringify(record.version)}, this library reads version ${CHECKPOINT_FORMAT_VERSION} only`,
      `Resume with the library version that wrote it. ${RESTART_REMEDY}`,
    );
  }
}

function checkLayout(value: unknown, layout: ParamLayout, stateFile: string): void {
  const remedy = `The checkpoint belongs to another model configuration; resume with the run's config.json. ${RESTART_REMEDY}`;
  const parameters = expectArray(value, stateFile, 'parameters');
  if (parameters.length !== layout.entries.length) {
    throw new RunFolderError(stateFile, `the checkpoint has ${parameters.length} parameter tensors, the model has ${layout.entries.length}`, remedy);
  }

  parameters.forEach((item, index) => {
    const at = `parameters[${index}]`;
    const parameter = expectRecord(item, stateFile, at);
    const name = expectString(parameter.name, stateFile, `${at}.name`);
    const shape = expectShape(parameter.shape, stateFile, `${at}.shape`);
    const expected = layout.entries[index];
    const sameShape = shape.length === expected.shape.length && shape.every((size, axis) => size === expected.shape[axis]);
    if (name !== expected.name || !sameShape) {
      throw new RunFolderError(
        stateFile,
        `parameter ${index} is "${name}" [${shape.join(', ')}], the model has "${expected.name}" [${expected.shape.join(', ')}]`,
        remedy,
      );
    }
  });
}

function parseBinaryRecord(value: unknown, stateFile: string, field: string): BinaryRecord {
  const record = expectRecord(value, stateFile, field);
  const file = expectString(record.file, stateFile, `${field}.file`);
  if (!BINARY_FILE_NAMES.has(file)) {
    throw new RunFolderError(stateFile, `${field}.file is "${file}", which is not a checkpoint file name`, RESTART_REMEDY);
  }
  return {
    file,
    bytes: expectInteger(record.bytes, stateFile, `${field}.bytes`, 0),
    crc32: expectInteger(record.crc32, stateFile, `${field}.crc32`, 0),
  };
}

function readBinary(folder: string, record: BinaryRecord, layout: ParamLayout): Float32Array {
  const file = path.join(folder, record.file);
  const bytes = readBinaryFile(file, `The checkpoint is incomplete. ${RESTART_REMEDY}`);

  if (bytes.length !== record.bytes || bytes.length !== layout.size * 4) {
    throw new RunFolderError(
      file,
      `file contains ${bytes.length} bytes, but state.json records ${record.bytes} and the model needs ${layout.size * 4}`,
      `The checkpoint is corrupted. ${RESTART_REMEDY}`,
    );
  }
  const checksum = crc32(bytes);
  if (checksum !== record.crc32) {
    throw new RunFolderError(file, `CRC-32 is ${checksum}, state.json records ${record.crc32}`, `The checkpoint is corrupted. ${RESTART_REMEDY}`);
  }
  return bytesToFloat32(bytes);
}

/**
 * Checks a training state field by field.
 *
 * @param value - the parsed `state` field of `state.json`, or a state about to be saved.
 * @param file - the file it came from, for messages.
 * @throws RunFolderError naming the file and the first invalid field.
 */
function parseTrainingState(value: unknown, file: string): TrainingState {
  const record = expectRecord(value, file, 'state');

  const rngState = expectArray(record.rngState, file, 'state.rngState');
  const validWord = (word: unknown): boolean => typeof word === 'number' && Number.isInteger(word) && word >= 0 && word <= 0xffffffff;
  if (rngState.length !== 4 || !rngState.every(validWord)) {
    throw new RunFolderError(file, `state.rngState must be four unsigned 32-bit integers, received ${JSON.stringify(rngState)}`, RESTART_REMEDY);
  }

  const state: TrainingState = {
    epoch: expectInteger(record.epoch, file, 'state.epoch', 0),
    stepInEpoch: expectInteger(record.stepInEpoch, file, 'state.stepInEpoch', 0),
    globalStep: expectInteger(record.globalStep, file, 'state.globalStep', 0),
    rngState: rngState as RngState,
    extra: expectRecord(record.extra, file, 'state.extra'),
    history: parseHistory(record.history, file, 'state.history'),
    bestValLoss: expectNumber(record.bestValLoss, file, 'state.bestValLoss'),
    bestEpoch: expectInteger(record.bestEpoch, file, 'state.bestEpoch', 0),
    adamStep: expectInteger(record.adamStep, file, 'state.adamStep', 0),
  };
  if (record.epochOrderSeed !== undefined) {
    state.epochOrderSeed = expectNumber(record.epochOrderSeed, file, 'state.epochOrderSeed');
  }
  return state;
}
