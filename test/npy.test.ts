import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { TokenFileError } from '../src/data/errors.js';
import { parseTokenNpy, readNpyHeader, readTokenNpy, type NpyTokenOptions, type TokenArrayResult } from '../src/data/npy.js';
import { encodeTokensNpy, writeTokensNpy } from '../src/data/writeNpy.js';
import { corpusPath } from './helpers/corpora.js';

// ---------------------------------------------------------------------------
// Hand-built .npy bytes, so the tests need no NumPy.

interface NpyParts {
  descr: string;
  /** Shape as numbers, or the literal text between the header's parentheses. */
  shape: number[] | string;
  data: Uint8Array;
  fortranOrder?: boolean;
  version?: 1 | 2 | 3;
  /** The data offset is padded to a multiple of this. Default 64, as NumPy does. */
  align?: number;
  /** Replaces the whole header dict. */
  dict?: string;
  /** Minimum length of the header text, to force a long header. */
  minHeaderLength?: number;
}

function shapeText(shape: number[] | string): string {
  if (typeof shape === 'string') {
    return `(${shape})`;
  }
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

function buildNpy(parts: NpyParts): Uint8Array {
  const version = parts.version ?? 1;
  const dict =
    parts.dict ?? `{'descr': '${parts.descr}', 'fortran_order': ${parts.fortranOrder === true ? 'True' : 'False'}, 'shape': ${shapeText(parts.shape)}, }`;
  const prefixLength = version === 1 ? 10 : 12;
  const align = parts.align ?? 64;

  let header = Buffer.from(`${dict}\n`, version === 3 ? 'utf8' : 'latin1');
  let padding = 0;
  while ((prefixLength + header.length + padding) % align !== 0 || header.length + padding < (parts.minHeaderLength ?? 0)) {
    padding += 1;
  }
  header = Buffer.concat([header.subarray(0, header.length - 1), Buffer.alloc(padding, 0x20), Buffer.from('\n')]);

  const prefix = Buffer.alloc(prefixLength);
  prefix.write('\x93NUMPY', 0, 'latin1');
  prefix[6] = version;
  prefix[7] = 0;
  if (version === 1) {
    prefix.writeUInt16LE(header.length, 8);
  } else {
    prefix.writeUInt32LE(header.length, 8);
  }
  return new Uint8Array(Buffer.concat([prefix, header, parts.data]));
}

/** Encodes integers with the given kind, size and byte order. */
function encodeIntegers(values: Array<number | bigint>, kind: 'i' | 'u', size: 1 | 2 | 4 | 8, bigEndian = false): Uint8Array {
  const bytes = new Uint8Array(values.length * size);
  const view = new DataView(bytes.buffer);
  const little = !bigEndian;
  values.forEach((value, index) => {
    const offset = index * size;
    if (size === 1) {
      if (kind === 'i') view.setInt8(offset, Number(value));
      else view.setUint8(offset, Number(value));
    } else if (size === 2) {
      if (kind === 'i') view.setInt16(offset, Number(value), little);
      else view.setUint16(offset, Number(value), little);
    } else if (size === 4) {
      if (kind === 'i') view.setInt32(offset, Number(value), little);
      else view.setUint32(offset, Number(value), little);
    } else if (kind === 'i') {
      view.setBigInt64(offset, BigInt(value), little);
    } else {
      view.setBigUint64(offset, BigInt(value), little);
    }
  });
  return bytes;
}

function loadedIds(result: TokenArrayResult): number[] {
  if (result.status !== 'loaded') {
    throw new Error(`expected loaded ids, got skipped: ${result.reason}`);
  }
  return Array.from(result.ids);
}

/** Runs `action` and returns the TokenFileError it throws, failing when it throws anything else. */
function catchTokenFileError(action: () => unknown): TokenFileError {
  try {
    action();
  } catch (error) {
    if (error instanceof TokenFileError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a TokenFileError, but nothing was thrown');
}

async function catchTokenFileErrorAsync(action: () => Promise<unknown>): Promise<TokenFileError> {
  try {
    await action();
  } catch (error) {
    if (error instanceof TokenFileError) {
      return error;
    }
    throw error;
  }
  throw new Error('expected a TokenFileError, but nothing was thrown');
}

const FILE = '/data/tokens/w2v_kmeans_test.npy';

// ---------------------------------------------------------------------------

interface ExpectedOutcome {
  outcome: string;
  length?: number;
  first?: number[];
  last?: number;
  message_names?: string[];
  with_flatten?: ExpectedOutcome;
}

const oddDir = corpusPath('odd-npy');
const expected = JSON.parse(fs.readFileSync(path.join(oddDir, 'expected.json'), 'utf8')) as Record<string, ExpectedOutcome>;

async function checkOutcome(name: string, want: ExpectedOutcome, options: NpyTokenOptions): Promise<void> {
  const file = path.join(oddDir, name);

  if (want.outcome === 'error') {
    const error = await catchTokenFileErrorAsync(() => readTokenNpy(file, options));
    expect(error.file).toBe(file);
    for (const word of want.message_names ?? []) {
      expect(error.message).toContain(word);
    }
    return;
  }

  const result = await readTokenNpy(file, options);
  if (want.outcome.startsWith('skipped: ')) {
    expect(result).toEqual({ status: 'skipped', reason: want.outcome.slice('skipped: '.length) });
    return;
  }

  expect(want.outcome).toBe('loaded');
  const ids = loadedIds(result);
  expect(ids).toHaveLength(want.length!);
  expect(ids.slice(0, want.first!.length)).toEqual(want.first);
  expect(ids[ids.length - 1]).toBe(want.last);
}

describe('odd-npy corpus', () => {
  test('expected.json covers every file', () => {
    const files = fs
      .readdirSync(oddDir)
      .filter((name) => name.endsWith('.npy'))
      .sort();
    expect(Object.keys(expected).sort()).toEqual(files);
  });

  test.each(Object.keys(expected))('%s with default options', async (name) => {
    await checkOutcome(name, expected[name], {});
  });

  test.each(Object.keys(expected))('%s with flatten', async (name) => {
    await checkOutcome(name, expected[name].with_flatten ?? expected[name], { flatten: true });
  });

  test('fortran grid flattens to the transposed file order', async () => {
    // The file stores a (3, 20) array column by column, so C order reads
    // every third stored element first.
    const file = path.join(oddDir, 'w2v_kmeans_2d_fortran.npy');
    const bytes = new Uint8Array(fs.readFileSync(file));
    const header = readNpyHeader(bytes, file);
    const stored = new Int32Array(bytes.slice(header.dataOffset).buffer);
    const ids = loadedIds(await readTokenNpy(file, { flatten: true }));
    for (let row = 0; row < 3; row++) {
      for (let column = 0; column < 20; column++) {
        expect(ids[row * 20 + column]).toBe(stored[column * 3 + row]);
      }
    }
  });

  test('version 2 header is read', () => {
    const file = path.join(oddDir, 'w2v_kmeans_v2header.npy');
    const header = readNpyHeader(new Uint8Array(fs.readFileSync(file)), file);
    expect(header).toEqual({ version: 2, descr: '<i2', fortranOrder: false, shape: [80], dataOffset: 128 });
  });
});

describe('parseTokenNpy integer dtypes', () => {
  test('int8 loads', () => {
    const bytes = buildNpy({ descr: '|i1', shape: [4], data: encodeIntegers([0, 127, 5, 9], 'i', 1) });
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual([0, 127, 5, 9]);
  });

  test('int8 negative id names value', () => {
    const bytes = buildNpy({ descr: '|i1', shape: [3], data: encodeIntegers([4, -5, 2], 'i', 1) });
    const error = catchTokenFileError(() => parseTokenNpy(bytes, FILE));
    expect(error.file).toBe(FILE);
    expect(error.message).toContain('w2v_kmeans_test.npy');
    expect(error.message).toContain('-5');
    expect(error.reason).toBe('negative token id -5 at index 1');
  });

  test('uint8 loads values above 127', () => {
    const bytes = buildNpy({ descr: '|u1', shape: [3], data: encodeIntegers([255, 128, 0], 'u', 1) });
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual([255, 128, 0]);
  });

  test('int16 and uint16 load', () => {
    const signed = buildNpy({ descr: '<i2', shape: [3], data: encodeIntegers([32767, 0, 300], 'i', 2) });
    const unsigned = buildNpy({ descr: '<u2', shape: [2], data: encodeIntegers([65535, 1], 'u', 2) });
    expect(loadedIds(parseTokenNpy(signed, FILE))).toEqual([32767, 0, 300]);
    expect(loadedIds(parseTokenNpy(unsigned, FILE))).toEqual([65535, 1]);
  });

  test('uint32 above int32 names value', () => {
    const bytes = buildNpy({ descr: '<u4', shape: [2], data: encodeIntegers([1, 3_000_000_000], 'u', 4) });
    const error = catchTokenFileError(() => parseTokenNpy(bytes, FILE));
    expect(error.message).toContain('3000000000');
    expect(error.message).toContain('int32');
  });

  test('uint64 small values load', () => {
    const bytes = buildNpy({ descr: '<u8', shape: [3], data: encodeIntegers([7n, 2147483647n, 0n], 'u', 8) });
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual([7, 2147483647, 0]);
  });

  test.each([
    [2n ** 31n, '2147483648'],
    [2n ** 40n, '1099511627776'],
    [2n ** 64n - 1n, '18446744073709551615'],
  ])('uint64 value %s is rejected', (value, text) => {
    const bytes = buildNpy({ descr: '<u8', shape: [2], data: encodeIntegers([1n, value], 'u', 8) });
    const error = catchTokenFileError(() => parseTokenNpy(bytes, FILE));
    expect(error.reason).toBe(`token id ${text} at index 1 does not fit in int32 (maximum 2147483647)`);
  });

  test('int64 extremes', () => {
    const good = buildNpy({ descr: '<i8', shape: [2], data: encodeIntegers([2147483647n, 3n], 'i', 8) });
    const tooLarge = buildNpy({ descr: '<i8', shape: [2], data: encodeIntegers([3n, 2n ** 62n], 'i', 8) });
    const negative = buildNpy({ descr: '<i8', shape: [2], data: encodeIntegers([3n, -(2n ** 62n)], 'i', 8) });
    expect(loadedIds(parseTokenNpy(good, FILE))).toEqual([2147483647, 3]);
    expect(catchTokenFileError(() => parseTokenNpy(tooLarge, FILE)).message).toContain(String(2n ** 62n));
    expect(catchTokenFileError(() => parseTokenNpy(negative, FILE)).message).toContain(String(-(2n ** 62n)));
  });

  test('big-endian int32 loads', () => {
    const values = [1, 70000, 2147483647, 256];
    const bytes = buildNpy({ descr: '>i4', shape: [4], data: encodeIntegers(values, 'i', 4, true) });
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual(values);
  });

  test('big-endian int64 loads', () => {
    const bytes = buildNpy({ descr: '>i8', shape: [3], data: encodeIntegers([5n, 2147483647n, 65536n], 'i', 8, true) });
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual([5, 2147483647, 65536]);
  });

  test('big-endian int64 negative names value', () => {
    const bytes = buildNpy({ descr: '>i8', shape: [2], data: encodeIntegers([5n, -2n], 'i', 8, true) });
    expect(catchTokenFileError(() => parseTokenNpy(bytes, FILE)).reason).toBe('negative token id -2 at index 1');
  });

  test('big-endian uint16 and uint64 load', () => {
    const short = buildNpy({ descr: '>u2', shape: [2], data: encodeIntegers([65535, 1], 'u', 2, true) });
    const long = buildNpy({ descr: '>u8', shape: [2], data: encodeIntegers([9n, 1000n], 'u', 8, true) });
    expect(loadedIds(parseTokenNpy(short, FILE))).toEqual([65535, 1]);
    expect(loadedIds(parseTokenNpy(long, FILE))).toEqual([9, 1000]);
  });

  test('native order prefixes read as little-endian', () => {
    const data = encodeIntegers([513, 2], 'i', 2);
    expect(loadedIds(parseTokenNpy(buildNpy({ descr: '=i2', shape: [2], data }), FILE))).toEqual([513, 2]);
    expect(loadedIds(parseTokenNpy(buildNpy({ descr: 'i2', shape: [2], data }), FILE))).toEqual([513, 2]);
  });
});

describe('parseTokenNpy headers', () => {
  const data = encodeIntegers([10, 20, 30], 'i', 2);

  test('version 3 header loads', () => {
    const bytes = buildNpy({ descr: '<i2', shape: [3], data, version: 3 });
    expect(readNpyHeader(bytes, FILE).version).toBe(3);
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual([10, 20, 30]);
  });

  test('version 3 header with invalid UTF-8 is rejected', () => {
    const bytes = buildNpy({ descr: '<i2', shape: [3], data, version: 3 });
    bytes[20] = 0xff;
    expect(catchTokenFileError(() => parseTokenNpy(bytes, FILE)).reason).toContain('not valid UTF-8');
  });

  test('version 2 header longer than 65535 bytes loads', () => {
    const bytes = buildNpy({ descr: '<i2', shape: [3], data, version: 2, minHeaderLength: 70_000 });
    expect(readNpyHeader(bytes, FILE).dataOffset).toBeGreaterThan(70_000);
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual([10, 20, 30]);
  });

  test.each([
    [4, 0],
    [1, 1],
    [0, 0],
  ])('format version %i.%i is rejected', (major, minor) => {
    const bytes = buildNpy({ descr: '<i2', shape: [3], data });
    bytes[6] = major;
    bytes[7] = minor;
    expect(catchTokenFileError(() => parseTokenNpy(bytes, FILE)).reason).toBe(`unsupported .npy format version ${major}.${minor}`);
  });

  test('unaligned data offset loads', () => {
    // NumPy pads headers to 64 bytes, but other writers may not.
    const values = [70000, 1, 123456];
    const bytes = buildNpy({
      descr: '<i4',
      shape: [3],
      data: encodeIntegers(values, 'i', 4),
      align: 1,
      dict: "{'descr': '<i4', 'fortran_order': False, 'shape': (3,)}",
    });
    expect(readNpyHeader(bytes, FILE).dataOffset % 4).not.toBe(0);
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual(values);
  });

  test('bytes inside a larger buffer load', () => {
    const bytes = buildNpy({ descr: '<i2', shape: [3], data });
    const outer = new Uint8Array(bytes.length + 7);
    outer.set(bytes, 3);
    expect(loadedIds(parseTokenNpy(outer.subarray(3, 3 + bytes.length), FILE))).toEqual([10, 20, 30]);
  });

  test('Python 2 long shape loads', () => {
    const bytes = buildNpy({ descr: '<i2', shape: '3L,', data });
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual([10, 20, 30]);
  });

  test.each([
    ['no shape', "{'descr': '<i2', 'fortran_order': False, }", "it has no 'shape' tuple"],
    ['no descr', "{'fortran_order': False, 'shape': (3,), }", "it has no 'descr' string"],
    ['no fortran_order', "{'descr': '<i2', 'shape': (3,), }", "it has no 'fortran_order' entry"],
    ['int shape', "{'descr': '<i2', 'fortran_order': False, 'shape': (3), }", 'shape (3) is not a tuple'],
    ['negative shape', "{'descr': '<i2', 'fortran_order': False, 'shape': (-3,), }", 'shape (-3,) is not a tuple'],
    ['not a dict', "descr: '<i2'", 'not a Python dict literal'],
  ])('header with %s is rejected', (_case, dict, words) => {
    const bytes = buildNpy({ descr: '<i2', shape: [3], data, dict });
    const error = catchTokenFileError(() => parseTokenNpy(bytes, FILE));
    expect(error.reason).toContain('malformed .npy header');
    expect(error.reason).toContain(words);
  });

  test('header length past the end is rejected', () => {
    const bytes = buildNpy({ descr: '<i2', shape: [3], data });
    new DataView(bytes.buffer).setUint16(8, 5000, true);
    expect(catchTokenFileError(() => parseTokenNpy(bytes, FILE)).reason).toMatch(/^truncated \.npy header/);
  });

  test.each([
    ['empty', new Uint8Array(0)],
    ['magic only', new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59])],
    ['CSV', new TextEncoder().encode('id,token\n1,2\n')],
  ])('%s bytes are not npy', (_case, bytes) => {
    const error = catchTokenFileError(() => parseTokenNpy(bytes, FILE));
    expect(error.file).toBe(FILE);
    expect(error.reason).toMatch(/^not a \.npy file/);
  });
});

describe('parseTokenNpy data length', () => {
  test('truncation by whole items is rejected', () => {
    // npyjs alone would return 78 of the 80 declared values here.
    const full = buildNpy({ descr: '<i2', shape: [80], data: encodeIntegers(new Array<number>(80).fill(1), 'i', 2) });
    const error = catchTokenFileError(() => parseTokenNpy(full.subarray(0, full.length - 4), FILE));
    expect(error.reason).toBe('truncated data: the header declares shape (80,) of int16 (160 bytes) but only 156 bytes follow it');
  });

  test('trailing bytes are rejected', () => {
    const bytes = buildNpy({ descr: '<i2', shape: [2], data: encodeIntegers([1, 2, 3], 'i', 2) });
    expect(catchTokenFileError(() => parseTokenNpy(bytes, FILE)).reason).toBe('2 unexpected bytes follow the data of shape (2,) of int16 (4 bytes)');
  });

  test('huge declared shape is truncated data', () => {
    const bytes = buildNpy({ descr: '<i8', shape: [2 ** 40, 2 ** 40], data: encodeIntegers([1n], 'i', 8) });
    expect(catchTokenFileError(() => parseTokenNpy(bytes, FILE)).reason).toMatch(/^truncated data/);
  });
});

describe('parseTokenNpy other dtypes', () => {
  test.each([
    ['<f4', 'float32'],
    ['<f8', 'float64'],
    ['<f2', 'float16'],
    ['|b1', 'bool'],
    ['|O', 'object'],
    ['<U5', 'str'],
    ['|S3', 'bytes'],
    ['<c8', 'complex64'],
    ['<c16', 'complex128'],
    ['<M8[ns]', 'datetime64'],
    ['|V4', 'void'],
  ])('%s is rejected as %s', (descr, name) => {
    const bytes = buildNpy({ descr, shape: [2], data: new Uint8Array(8) });
    const error = catchTokenFileError(() => parseTokenNpy(bytes, FILE));
    expect(error.reason).toBe(`dtype ${name} ('${descr}') is not an integer type`);
    expect(error.message).toContain(FILE);
    expect(error.message).toContain('astype');
  });

  test('odd integer size is rejected', () => {
    const bytes = buildNpy({ descr: '<i3', shape: [2], data: new Uint8Array(6) });
    expect(catchTokenFileError(() => parseTokenNpy(bytes, FILE)).reason).toBe("integer dtype '<i3' has an unsupported item size");
  });

  test('structured dtype is rejected', () => {
    const dict = "{'descr': [('id', '<i4'), ('time', '<f4')], 'fortran_order': False, 'shape': (2,), }";
    const bytes = buildNpy({ descr: '', shape: [2], data: new Uint8Array(16), dict });
    expect(catchTokenFileError(() => parseTokenNpy(bytes, FILE)).reason).toMatch(/^structured dtype/);
  });
});

describe('parseTokenNpy shapes', () => {
  const grid = (fortranOrder: boolean) =>
    // The array [[1, 2], [3, 4], [5, 6]], stored row by row or column by column.
    buildNpy({ descr: '<i2', shape: [3, 2], fortranOrder, data: encodeIntegers(fortranOrder ? [1, 3, 5, 2, 4, 6] : [1, 2, 3, 4, 5, 6], 'i', 2) });

  test('2-D arrays are skipped by default', () => {
    expect(parseTokenNpy(grid(false), FILE)).toEqual({ status: 'skipped', reason: 'not 1-D' });
    expect(parseTokenNpy(grid(true), FILE)).toEqual({ status: 'skipped', reason: 'not 1-D' });
  });

  test('2-D arrays flatten in C order', () => {
    expect(loadedIds(parseTokenNpy(grid(false), FILE, { flatten: true }))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(loadedIds(parseTokenNpy(grid(true), FILE, { flatten: true }))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  test('3-D Fortran array flattens in C order', () => {
    // Element (i, j, k) of a (2, 3, 4) array contains its C-order position
    // i*12 + j*4 + k; Fortran order stores it at i + 2*j + 6*k.
    const stored = new Array<number>(24);
    for (let i = 0; i < 2; i++) {
      for (let j = 0; j < 3; j++) {
        for (let k = 0; k < 4; k++) {
          stored[i + 2 * j + 6 * k] = i * 12 + j * 4 + k;
        }
      }
    }
    const bytes = buildNpy({ descr: '<u1', shape: [2, 3, 4], fortranOrder: true, data: encodeIntegers(stored, 'u', 1) });
    expect(loadedIds(parseTokenNpy(bytes, FILE, { flatten: true }))).toEqual(Array.from({ length: 24 }, (_, position) => position));
  });

  test('1-D Fortran array keeps its order', () => {
    const bytes = buildNpy({ descr: '<i2', shape: [3], fortranOrder: true, data: encodeIntegers([3, 2, 1], 'i', 2) });
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual([3, 2, 1]);
  });

  test('row of a 2-D array needs flatten', () => {
    const bytes = buildNpy({ descr: '<i2', shape: [1, 4], data: encodeIntegers([4, 3, 2, 1], 'i', 2) });
    expect(parseTokenNpy(bytes, FILE)).toEqual({ status: 'skipped', reason: 'not 1-D' });
    expect(loadedIds(parseTokenNpy(bytes, FILE, { flatten: true }))).toEqual([4, 3, 2, 1]);
  });

  test('empty 2-D array flattens to too short', () => {
    const bytes = buildNpy({ descr: '<i2', shape: [0, 3], data: new Uint8Array(0) });
    expect(parseTokenNpy(bytes, FILE, { flatten: true })).toEqual({ status: 'skipped', reason: 'fewer than 2 tokens' });
  });

  test('skipped arrays still need valid data length', () => {
    const bytes = buildNpy({ descr: '<i2', shape: [3, 2], data: new Uint8Array(10) });
    expect(catchTokenFileError(() => parseTokenNpy(bytes, FILE)).reason).toMatch(/^truncated data/);
  });
});

describe('parseTokenNpy vocabSize', () => {
  const bytes = buildNpy({ descr: '<i2', shape: [4], data: encodeIntegers([0, 5, 99, 100], 'i', 2) });

  test('id at vocabSize names value and size', () => {
    const error = catchTokenFileError(() => parseTokenNpy(bytes, FILE, { vocabSize: 100 }));
    expect(error.reason).toBe('token id 100 at index 3 is outside the vocabulary of size 100 (ids 0 to 99)');
    expect(error.message).toContain(FILE);
  });

  test('larger vocabSize loads', () => {
    expect(loadedIds(parseTokenNpy(bytes, FILE, { vocabSize: 101 }))).toEqual([0, 5, 99, 100]);
  });

  test.each([0, -1, 1.5, 2 ** 31 + 1, Number.NaN])('vocabSize %s is a RangeError', (vocabSize) => {
    expect(() => parseTokenNpy(bytes, FILE, { vocabSize })).toThrow(RangeError);
  });
});

describe('readTokenNpy', () => {
  test('missing file names path', async () => {
    const file = path.join(os.tmpdir(), 'acoustic-lm-no-such-file.npy');
    const error = await catchTokenFileErrorAsync(() => readTokenNpy(file));
    expect(error.file).toBe(file);
    expect(error.reason).toBe('file not found');
    expect(error.message.startsWith(`${file}: file not found.`)).toBe(true);
  });

  test('folder is rejected', async () => {
    const error = await catchTokenFileErrorAsync(() => readTokenNpy(oddDir));
    expect(error.reason).toBe('the path is a folder, not a file');
  });
});

// ---------------------------------------------------------------------------

describe('encodeTokensNpy', () => {
  function headerText(bytes: Uint8Array): { text: string; dataOffset: number } {
    const length = new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);
    return { text: Buffer.from(bytes.subarray(10, 10 + length)).toString('latin1'), dataOffset: 10 + length };
  }

  test('small vocabulary writes <i2', () => {
    const ids = [3, 1, 4, 1, 5];
    const bytes = new Uint8Array(encodeTokensNpy(ids, 100));
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);

    const { text, dataOffset } = headerText(bytes);
    expect(text).toMatch(/'descr'\s*:\s*'<i2'/);
    expect(text).toMatch(/'fortran_order'\s*:\s*False/);
    expect(text).toMatch(/'shape'\s*:\s*\(5,\)/);
    expect(text.endsWith('\n')).toBe(true);
    expect(bytes.length).toBe(dataOffset + 10);

    const view = new DataView(bytes.buffer, bytes.byteOffset + dataOffset);
    expect(ids.map((_, index) => view.getInt16(index * 2, true))).toEqual(ids);
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual(ids);
  });

  test('vocabulary 32768 still fits int16', () => {
    const bytes = new Uint8Array(encodeTokensNpy([32767, 0], 32768));
    expect(headerText(bytes).text).toMatch(/'descr'\s*:\s*'<i2'/);
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual([32767, 0]);
  });

  test('larger vocabulary writes <i4', () => {
    const ids = Array.from({ length: 1000 }, (_, index) => (index * 7919) % 50_000);
    ids.push(32768);
    const bytes = new Uint8Array(encodeTokensNpy(ids, 50_000));
    const { text, dataOffset } = headerText(bytes);
    expect(text).toMatch(/'descr'\s*:\s*'<i4'/);
    expect(text).toMatch(/'shape'\s*:\s*\(1001,\)/);
    expect(bytes.length).toBe(dataOffset + 4 * 1001);
    expect(loadedIds(parseTokenNpy(bytes, FILE, { vocabSize: 50_000 }))).toEqual(ids);
  });

  test('maximum vocabulary round trips', () => {
    const bytes = new Uint8Array(encodeTokensNpy([2 ** 31 - 1, 0], 2 ** 31));
    expect(loadedIds(parseTokenNpy(bytes, FILE))).toEqual([2 ** 31 - 1, 0]);
  });

  test('empty sequence encodes shape (0,)', () => {
    const bytes = new Uint8Array(encodeTokensNpy([], 10));
    expect(headerText(bytes).text).toMatch(/'shape'\s*:\s*\(0,\)/);
    expect(parseTokenNpy(bytes, FILE)).toEqual({ status: 'skipped', reason: 'fewer than 2 tokens' });
  });

  test.each([
    [[1, -1], 'Token id -1 at index 1'],
    [[1.5, 2], 'Token id 1.5 at index 0'],
    [[0, 100], 'Token id 100 at index 1'],
    [[Number.NaN], 'Token id NaN at index 0'],
  ])('ids %s are a RangeError', (ids, words) => {
    expect(() => encodeTokensNpy(ids, 100)).toThrow(RangeError);
    expect(() => encodeTokensNpy(ids, 100)).toThrow(words);
  });
});

describe('writeTokensNpy', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-npy-'));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('file round trips', async () => {
    const file = path.join(dir, 'w2v_kmeans_a.npy');
    await writeTokensNpy(file, Int32Array.from([9, 8, 7, 6]), 10);
    expect(fs.readdirSync(dir)).toEqual(['w2v_kmeans_a.npy']);
    expect(loadedIds(await readTokenNpy(file, { vocabSize: 10 }))).toEqual([9, 8, 7, 6]);
  });

  test('existing file is replaced', async () => {
    const file = path.join(dir, 'a.npy');
    await writeTokensNpy(file, [1, 2, 3], 10);
    await writeTokensNpy(file, [4, 5], 40_000);
    expect(fs.readdirSync(dir)).toEqual(['a.npy']);
    expect(loadedIds(await readTokenNpy(file))).toEqual([4, 5]);
    expect(readNpyHeader(new Uint8Array(fs.readFileSync(file)), file).descr).toBe('<i4');
  });

  test('invalid id writes nothing', async () => {
    await expect(writeTokensNpy(path.join(dir, 'a.npy'), [1, 20], 10)).rejects.toThrow(RangeError);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('missing folder rejects', async () => {
    await expect(writeTokensNpy(path.join(dir, 'missing', 'a.npy'), [1, 2], 10)).rejects.toMatchObject({ code: 'ENOENT' });
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  test('failed rename removes the temporary file', async () => {
    // Renaming a file over a non-empty folder fails after the data is written.
    const target = path.join(dir, 'taken.npy');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'inside'), 'x');
    await expect(writeTokensNpy(target, [1, 2], 10)).rejects.toThrow();
    expect(fs.readdirSync(dir)).toEqual(['taken.npy']);
  });
});
