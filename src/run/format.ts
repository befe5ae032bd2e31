/**
 * The on-disk format of a run folder: its marker file `run.json`, the error
 * type of every run-folder read, the JSON and binary encodings that all run
 * files share, and the field checks used when reading them back.
 */

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

/** Value of `run.json`'s `format` field, which marks a folder as a run folder. */
export const RUN_FORMAT = 'acoustic-lm-run';

/** Run-folder format version written by this library, and the only one it reads. */
export const RUN_FORMAT_VERSION = 1;

/** Library name recorded in `run.json`. */
export const LIBRARY_NAME = 'acoustic-lm';

/** Library version recorded in `run.json`; must match `version` in package.json. */
export const LIBRARY_VERSION = '0.1.0';

/** Names of the files in a run folder. */
export const RUN_FILES = {
  run: 'run.json',
  config: 'config.json',
  model: 'model.json',
  weights: 'weights.bin',
  split: 'split.json',
  history: 'history.json',
  historyCsv: 'history.csv',
  stepsCsv: 'steps.csv',
  metrics: 'metrics.json',
} as const;

/** Folder of a run's resumable training state. */
export const CHECKPOINT_DIR = 'checkpoint';

/** Name the previous checkpoint folder has while a new one is swapped in. */
export const RETIRED_CHECKPOINT_DIR = 'checkpoint.old';

/** Prefix of the folders that checkpoints are written into before the swap. */
export const CHECKPOINT_STAGING_PREFIX = 'checkpoint.tmp-';

/** Contents of `run.json`. */
export interface RunManifest {
  /** Format marker, always `'acoustic-lm-run'`. */
  format: typeof RUN_FORMAT;
  /** Run-folder format version, {@link RUN_FORMAT_VERSION} for folders this library writes. */
  version: number;
  /** ISO 8601 time at which the folder was created. */
  createdAt: string;
  /** Library that created the folder. */
  library: {
    /** Package name, `acoustic-lm`. */
    name: string;
    /** Package version. */
    version: string;
  };
}

/**
 * Error thrown for a run folder or run file that cannot be used: missing,
 * not valid JSON, a field of the wrong type, an unsupported version, or
 * binary data whose size or checksum does not match.
 *
 * The message has the form `PATH: REASON. REMEDY` on one line.
 */
export class RunFolderError extends Error {
  /** Error name, always `'RunFolderError'`. */
  override readonly name = 'RunFolderError';

  /** Path of the rejected file or folder. */
  readonly file: string;

  /** Description of the problem without the path or the remedy. */
  readonly reason: string;

  /**
   * @param file - path of the file or folder that failed.
   * @param reason - what is wrong, naming the field and value; no trailing period.
   * @param remedy - one or two full sentences with the next step to take.
   * @param cause - the lower-level error, if any.
   */
  constructor(file: string, reason: string, remedy: string, cause?: unknown) {
    super(`${file}: ${reason}. ${remedy}`, cause === undefined ? undefined : { cause });
    this.file = file;
    this.reason = reason;
  }
}

/** Returns a `run.json` record for a folder created now by this library. */
export function createRunManifest(now: Date = new Date()): RunManifest {
  return {
    format: RUN_FORMAT,
    version: RUN_FORMAT_VERSION,
    createdAt: now.toISOString(),
    library: { name: LIBRARY_NAME, version: LIBRARY_VERSION },
  };
}

/**
 * Returns whether `dir` contains a `run.json` whose `format` is
 * {@link RUN_FORMAT}, whatever its version.
 */
export function isRunFolder(dir: string): boolean {
  const file = path.join(dir, RUN_FILES.run);
  try {
    const parsed: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    return isRecord(parsed) && parsed.format === RUN_FORMAT;
  } catch {
    return false;
  }
}

/**
 * Reads and checks `run.json` of a run folder.
 *
 * @param dir - the run folder.
 * @returns the parsed record.
 * @throws RunFolderError naming the folder when it does not exist or has no
 *   `run.json` (so it is not a run folder), when `run.json` is not valid
 *   JSON or lacks a field, and when its version is not
 *   {@link RUN_FORMAT_VERSION}, naming the version found and the supported one.
 */
export function readRunManifest(dir: string): RunManifest {
  if (!fs.existsSync(dir)) {
    throw new RunFolderError(dir, 'run folder not found', 'Check the path, or train a model to create the run folder.');
  }
  const file = path.join(dir, RUN_FILES.run);
  if (!fs.existsSync(file)) {
    throw new RunFolderError(dir, `not an acoustic-lm run folder (${RUN_FILES.run} not found)`, 'Pass the folder that a training run created.');
  }

  const value = readJsonFile(file, 'Restore run.json from a backup, or train the run again.');
  const record = expectRecord(value, file, '');
  if (record.format !== RUN_FORMAT) {
    throw new RunFolderError(
      dir,
      `not an acoustic-lm run folder (${RUN_FILES.run} has format ${JSON.stringify(record.format)}, expected "${RUN_FORMAT}")`,
      'Pass the folder that a training run created.',
    );
  }

  const version = record.version;
  if (version !== RUN_FORMAT_VERSION) {
    const newer = typeof version === 'number' && version > RUN_FORMAT_VERSION;
    const remedy = newer ? `Upgrade ${LIBRARY_NAME} to open it.` : 'Train the run again with this version.';
    throw new RunFolderError(
      dir,
      `unsupported run format version ${JSON.stringify(version)} in ${RUN_FILES.run}, this version of ${LIBRARY_NAME} reads version ${RUN_FORMAT_VERSION} only`,
      remedy,
    );
  }

  const library = expectRecord(record.library, file, 'library');
  return {
    format: RUN_FORMAT,
    version,
    createdAt: expectString(record.createdAt, file, 'createdAt'),
    library: { name: expectString(library.name, file, 'library.name'), version: expectString(library.version, file, 'library.version') },
  };
}

// ---------------------------------------------------------------------------
// JSON with non-finite numbers

const NON_FINITE_NAMES = new Map<string, number>([
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
]);

/**
 * Formats a value as the JSON of a run file: pretty-printed with a trailing
 * newline. JSON has no NaN or Infinity, and `JSON.stringify` would silently
 * turn them into null, so they are written as the strings "NaN", "Infinity"
 * and "-Infinity" (the spelling Python's `float()` also reads).
 *
 * @param value - any JSON-serialisable value.
 * @throws TypeError from `JSON.stringify` for cycles or BigInt values.
 */
export function stringifyRunJson(value: unknown): string {
  const replacer = (_key: string, item: unknown): unknown => (typeof item === 'number' && !Number.isFinite(item) ? String(item) : item);
  return `${JSON.stringify(value, replacer, 2)}\n`;
}

/**
 * Parses the JSON of a run file, turning the strings "NaN", "Infinity" and
 * "-Infinity" back into numbers wherever they appear.
 *
 * NOTE: a string value that is exactly one of these three words comes back
 * as a number, because the file does not record which strings were numbers.
 *
 * @param text - the file contents.
 * @throws SyntaxError from `JSON.parse` when the text is not JSON.
 */
export function parseRunJson(text: string): unknown {
  return JSON.parse(text, (_key, item: unknown) => (typeof item === 'string' && NON_FINITE_NAMES.has(item) ? NON_FINITE_NAMES.get(item) : item));
}

/**
 * Reads and parses a JSON run file with {@link parseRunJson}.
 *
 * @param file - the file.
 * @param remedy - the sentence with the next step to take when the file
 *   is missing or is not valid JSON.
 * @throws RunFolderError naming the file when it is missing, unreadable or not valid JSON.
 */
export function readJsonFile(file: string, remedy: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    throw new RunFolderError(file, describeReadFailure(error), remedy, error);
  }
  try {
    return parseRunJson(text);
  } catch (error) {
    throw new RunFolderError(file, `invalid JSON (${(error as Error).message})`, remedy, error);
  }
}

/**
 * Reads a whole binary run file.
 *
 * @param file - the file.
 * @param remedy - what to do when the file is missing or unreadable.
 * @throws RunFolderError naming the file when it is missing or unreadable.
 */
export function readBinaryFile(file: string, remedy: string): Uint8Array {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new RunFolderError(file, describeReadFailure(error), remedy, error);
  }
}

function describeReadFailure(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return 'file not found';
    case 'EISDIR':
      return 'the path is a folder, not a file';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    default:
      return `cannot read the file (${code ?? String(error)})`;
  }
}

// ---------------------------------------------------------------------------
// Field checks. Each names the file, the field path and the value it received.

/** Returns a short description of a JSON value for messages: `the string "256"`, `null`, `an array`. */
export function describeJsonValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return `the string ${JSON.stringify(value)}`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint' || typeof value === 'symbol' || typeof value === 'function') {
    return String(value);
  }
  return 'an object';
}

function fieldLabel(field: string): string {
  return field === '' ? 'the top-level value' : field;
}

function invalidField(file: string, field: string, expected: string, value: unknown): RunFolderError {
  const found = value === undefined ? 'is missing' : `must be ${expected}, received ${describeJsonValue(value)}`;
  const reason = value === undefined ? `${fieldLabel(field)} ${found} (expected ${expected})` : `${fieldLabel(field)} ${found}`;
  return new RunFolderError(file, reason, 'Correct the value in the file, or let acoustic-lm write the file again.');
}

/** Returns whether a value is a plain JSON object (not null, not an array). */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Checks that a field is a JSON object.
 *
 * @throws RunFolderError naming the file, the field and the value otherwise.
 */
export function expectRecord(value: unknown, file: string, field: string): Record<string, unknown> {
  if (!isRecord(value)) throw invalidField(file, field, 'an object', value);
  return value;
}

/**
 * Checks that a field is a number. NaN and ±Infinity pass, because run
 * files store them (see {@link stringifyRunJson}).
 *
 * @throws RunFolderError naming the file, the field and the value otherwise.
 */
export function expectNumber(value: unknown, file: string, field: string): number {
  if (typeof value !== 'number') throw invalidField(file, field, 'a number', value);
  return value;
}

/**
 * Checks that a field is an integer of at least `min`.
 *
 * @throws RunFolderError naming the file, the field and the value otherwise.
 */
export function expectInteger(value: unknown, file: string, field: string, min = 0): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw invalidField(file, field, `an integer of at least ${min}`, value);
  }
  return value;
}

/**
 * Checks that a field is a string.
 *
 * @throws RunFolderError naming the file, the field and the value otherwise.
 */
export function expectString(value: unknown, file: string, field: string): string {
  if (typeof value !== 'string') throw invalidField(file, field, 'a string', value);
  return value;
}

/**
 * Checks that a field is an array, returning it.
 *
 * @throws RunFolderError naming the file, the field and the value otherwise.
 */
export function expectArray(value: unknown, file: string, field: string): unknown[] {
  if (!Array.isArray(value)) throw invalidField(file, field, 'an array', value);
  return value;
}

/**
 * Checks that a field is an array of strings.
 *
 * @throws RunFolderError naming the file, the first offending element and its value otherwise.
 */
export function expectStringArray(value: unknown, file: string, field: string): string[] {
  const items = expectArray(value, file, field);
  items.forEach((item, index) => expectString(item, file, `${field}[${index}]`));
  return items as string[];
}

/**
 * Checks that a field is a tensor shape: an array of non-negative integers.
 *
 * @throws RunFolderError naming the file, the field and the value otherwise.
 */
export function expectShape(value: unknown, file: string, field: string): number[] {
  const items = expectArray(value, file, field);
  items.forEach((item, index) => expectInteger(item, file, `${field}[${index}]`, 0));
  return items as number[];
}

// ---------------------------------------------------------------------------
// Binary encoding

const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Returns the little-endian bytes of a Float32Array, the byte order of
 * TensorFlow.js weight files. On little-endian hosts (x86-64, arm64) this is
 * a view of the same memory, so no copy is made.
 */
export function float32ToBytes(values: Float32Array): Uint8Array {
  if (HOST_IS_LITTLE_ENDIAN) {
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  }
  const bytes = new Uint8Array(values.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < values.length; i++) view.setFloat32(i * 4, values[i], true);
  return bytes;
}

/**
 * Copies little-endian float32 bytes into a new Float32Array. The bytes are
 * copied as they are, never converted through a JavaScript number, so every
 * bit pattern (-0, NaN payloads) survives.
 *
 * @param bytes - the data; its length must be a multiple of 4.
 * @throws RangeError when the length is not a multiple of 4.
 */
export function bytesToFloat32(bytes: Uint8Array): Float32Array {
  if (bytes.length % 4 !== 0) {
    throw new RangeError(`float32 data must be a multiple of 4 bytes long, received ${bytes.length} bytes.`);
  }
  const values = new Float32Array(bytes.length / 4);
  const target = new Uint8Array(values.buffer);
  if (HOST_IS_LITTLE_ENDIAN) {
    target.set(bytes);
    return values;
  }
  for (let i = 0; i < bytes.length; i += 4) {
    target[i] = bytes[i + 3];
    target[i + 1] = bytes[i + 2];
    target[i + 2] = bytes[i + 1];
    target[i + 3] = bytes[i];
  }
  return values;
}

let crcTable: Uint32Array | undefined;

/**
 * Computes CRC-32 (the IEEE polynomial of zlib, gzip and PNG) in JavaScript.
 * {@link crc32} uses it where `zlib.crc32` is missing.
 */
export function crc32Fallback(bytes: Uint8Array): number {
  if (crcTable === undefined) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) crc = crcTable[(crc ^ bytes[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/**
 * Computes the CRC-32 of some bytes as an unsigned 32-bit integer. Uses
 * `zlib.crc32` where Node has it (from 20.15 and 22.2), which is about ten
 * times faster than {@link crc32Fallback}.
 */
export function crc32(bytes: Uint8Array): number {
  const native = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  return native === undefined ? crc32Fallback(bytes) : native(bytes) >>> 0;
}
