/**
 * Token ids from NumPy `.npy` files.
 *
 * Files in format versions 1.0, 2.0 and 3.0 with any integer dtype (int8 to
 * int64, uint8 to uint64) in either byte order are accepted. The ids come out
 * as an `Int32Array` in NumPy's `reshape(-1)` order.
 *
 * npyjs 1.2 decodes the data, but it has gaps that this module closes before
 * calling it. Its `parse` rejects big-endian descriptors (`'>i2'`), silently
 * drops trailing elements when a truncated data block is still a whole number
 * of items, and throws a RangeError when the data does not start at a multiple
 * of the item size. Its header parsing also reads a header without a `shape`
 * entry as a 0-d array. So the header is parsed and checked here, and npyjs
 * receives a rebuilt little-endian 1-D file whose data is exactly what the
 * header declares.
 */

import { parse as parseNpyBuffer } from 'npyjs';

import { MAX_TOKEN_ID, TokenFileError, assertValidVocabSize, readInputFile } from './errors.js';

/** Reason a readable file yields no sequence. */
export type SkipReason = 'not 1-D' | 'fewer than 2 tokens';

/** Outcome of reading one token array: its ids, or the reason it was skipped. */
export type TokenArrayResult =
  | {
      /** `'loaded'`: the file contains a usable sequence. */
      status: 'loaded';
      /** Token ids of the sequence. */
      ids: Int32Array;
    }
  | {
      /** `'skipped'`: the file is readable but yields no sequence. */
      status: 'skipped';
      /** Reason the file yields no sequence. */
      reason: SkipReason;
    };

/** Options of {@link parseTokenNpy} and {@link readTokenNpy}. */
export interface NpyTokenOptions {
  /**
   * Flatten arrays that are not 1-D (including 0-d scalars) in C order, as
   * NumPy's `reshape(-1)` does. Default false: such arrays are skipped as "not 1-D".
   */
  flatten?: boolean;
  /** Number of ids in the vocabulary; an id at or above it is an error. Default: no upper bound but int32. */
  vocabSize?: number;
}

/** The fields of a `.npy` header that the loader uses. */
export interface NpyHeader {
  /** Major format version: 1, 2 or 3. */
  version: number;
  /** NumPy type descriptor, e.g. `'<i2'`. */
  descr: string;
  /** Whether the data is stored in column-major (Fortran) order. */
  fortranOrder: boolean;
  /** Array shape; `[]` for a 0-d scalar. */
  shape: number[];
  /** Byte offset of the first data byte. */
  dataOffset: number;
}

/** An integer dtype as stored in the file. */
interface IntegerDtype {
  /** NumPy name, e.g. `int16`. */
  name: string;
  signed: boolean;
  /** Item size in bytes. */
  size: 1 | 2 | 4 | 8;
  bigEndian: boolean;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // "\x93NUMPY"
const LATIN1 = new TextDecoder('latin1');
const UTF8 = new TextDecoder('utf-8', { fatal: true });
const REEXPORT = 'The file is damaged or was not written by numpy.save; export it again with numpy.save.';

/**
 * Parses the header of a `.npy` file.
 *
 * @param bytes - the whole file, or at least its header.
 * @param file - path used in error messages.
 * @returns the version, dtype descriptor, order, shape and data offset.
 * @throws TokenFileError when the bytes are not a `.npy` file, the version is
 *   not 1.0, 2.0 or 3.0, or the header is truncated or malformed.
 */
export function readNpyHeader(bytes: Uint8Array, file: string): NpyHeader {
  if (bytes.length < 10 || MAGIC.some((byte, i) => bytes[i] !== byte)) {
    throw new TokenFileError(file, 'not a .npy file: it does not start with the magic string \\x93NUMPY', 'Pass a file written by numpy.save, or a .txt or .units text unit file.');
  }

  const major = bytes[6];
  const minor = bytes[7];
  if (major < 1 || major > 3 || minor !== 0) {
    throw new TokenFileError(file, `unsupported .npy format version ${major}.${minor}`, 'Versions 1.0, 2.0 and 3.0 can be read; save the array again with numpy.save.');
  }

  // Version 1.0 stores the header length in 2 bytes, versions 2.0 and 3.0 in 4.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerStart = major === 1 ? 10 : 12;
  if (bytes.length < headerStart) {
    throw new TokenFileError(file, `truncated .npy header: the file has only ${bytes.length} bytes`, REEXPORT);
  }
  const headerLength = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const dataOffset = headerStart + headerLength;
  if (dataOffset > bytes.length) {
    throw new TokenFileError(file, `truncated .npy header: it declares ${headerLength} bytes but only ${bytes.length - headerStart} follow`, REEXPORT);
  }

  const text = decodeHeaderText(bytes.subarray(headerStart, dataOffset), major, file);
  return { version: major, ...parseHeaderDict(text, file), dataOffset };
}

/** Decodes the header: Latin-1 before version 3.0, UTF-8 from 3.0 on. */
function decodeHeaderText(headerBytes: Uint8Array, major: number, file: string): string {
  if (major < 3) {
    return LATIN1.decode(headerBytes);
  }
  try {
    return UTF8.decode(headerBytes);
  } catch (error) {
    throw new TokenFileError(file, 'malformed .npy header: version 3.0 header is not valid UTF-8', REEXPORT, { cause: error });
  }
}

/** Reads `descr`, `fortran_order` and `shape` from the Python dict literal of the header. */
function parseHeaderDict(text: string, file: string): Pick<NpyHeader, 'descr' | 'fortranOrder' | 'shape'> {
  const dict = text.trim();
  const malformed = (detail: string) => new TokenFileError(file, `malformed .npy header ${JSON.stringify(dict.slice(0, 120))}: ${detail}`, REEXPORT);
  if (!dict.startsWith('{') || !dict.endsWith('}')) {
    throw malformed('it is not a Python dict literal');
  }

  const descrMatch = /['"]descr['"]\s*:\s*(?:'([^']*)'|"([^"]*)"|(\[))/.exec(dict);
  if (descrMatch === null) {
    throw malformed("it has no 'descr' string");
  }
  if (descrMatch[3] !== undefined) {
    throw new TokenFileError(file, 'structured dtype (a record array with named fields) is not a token array', 'Save the id field alone, e.g. np.save(path, records["id"]).');
  }
  const descr = descrMatch[1] ?? descrMatch[2];

  const fortranMatch = /['"]fortran_order['"]\s*:\s*(True|False)\b/.exec(dict);
  if (fortranMatch === null) {
    throw malformed("it has no 'fortran_order' entry of True or False");
  }

  const shapeMatch = /['"]shape['"]\s*:\s*\(([^()]*)\)/.exec(dict);
  if (shapeMatch === null) {
    throw malformed("it has no 'shape' tuple");
  }
  const shape = parseShapeTuple(shapeMatch[1]);
  if (shape === null) {
    throw malformed(`shape (${shapeMatch[1]}) is not a tuple of non-negative integers`);
  }

  return { descr, fortranOrder: fortranMatch[1] === 'True', shape };
}

/** Parses the inside of a Python tuple such as `3, 20` or `80,`; null when it is not a valid shape. */
function parseShapeTuple(inner: string): number[] | null {
  const parts = inner.split(',').map((part) => part.trim());
  if (parts.length === 1) {
    // "()" is the 0-d shape. "(80)" is an int in Python, not a tuple.
    return parts[0] === '' ? [] : null;
  }
  if (parts[parts.length - 1] === '') {
    parts.pop();
  }

  const shape: number[] = [];
  for (const part of parts) {
    // Python 2 wrote long integers with an L suffix, e.g. (80L,).
    if (!/^\d+L?$/.test(part)) {
      return null;
    }
    const dimension = Number.parseInt(part, 10);
    if (!Number.isSafeInteger(dimension)) {
      return null;
    }
    shape.push(dimension);
  }
  return shape;
}

/** Classifies a descriptor, throwing unless it is an integer dtype of 1, 2, 4 or 8 bytes. */
function readIntegerDtype(descr: string, file: string): IntegerDtype {
  const match = /^([<>|=]?)([A-Za-z])(\d*)(.*)$/s.exec(descr);
  const order = match?.[1] ?? '';
  const kind = match?.[2] ?? '';
  const size = Number(match?.[3] ?? '');
  const suffix = match?.[4] ?? '';

  if ((kind === 'i' || kind === 'u') && suffix === '' && (size === 1 || size === 2 || size === 4 || size === 8)) {
    const signed = kind === 'i';
    // NumPy writes '<', '>' or, for single bytes, '|'. '=' and a missing
    // prefix mean the writer's native order, taken here as little-endian.
    return { name: `${signed ? 'int' : 'uint'}${size * 8}`, signed, size, bigEndian: order === '>' };
  }

  if (kind === 'i' || kind === 'u') {
    throw new TokenFileError(file, `integer dtype '${descr}' has an unsupported item size`, 'Save the ids as int8, int16, int32 or int64 (or the unsigned types), e.g. ids.astype(np.int16).');
  }
  throw new TokenFileError(
    file,
    `dtype ${numpyDtypeName(kind, size)} ('${descr}') is not an integer type`,
    'Token ids must be stored as integers of 1 to 8 bytes; convert them before saving, e.g. np.save(path, ids.astype(np.int16)).',
  );
}

/** NumPy's name for a descriptor's kind and size, e.g. `float32` for kind `f`, size 4. */
function numpyDtypeName(kind: string, size: number): string {
  const bits = Number.isFinite(size) && size > 0 ? String(size * 8) : '';
  switch (kind) {
    case 'f':
      return `float${bits}`;
    case 'c':
      return `complex${bits}`;
    case 'b':
      return 'bool';
    case 'O':
      return 'object';
    case 'U':
      return 'str';
    case 'S':
    case 'a':
      return 'bytes';
    case 'V':
      return 'void';
    case 'M':
      return 'datetime64';
    case 'm':
      return 'timedelta64';
    default:
      return 'unknown';
  }
}

/** Formats a shape as Python prints a tuple: `(80,)`, `(3, 20)`, `()`. */
function formatShape(shape: number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(', ')})`;
}

/**
 * Parses the token ids of one `.npy` file.
 *
 * A 1-D array is one sequence. An array of any other rank, a 0-d scalar
 * included, is skipped as "not 1-D" unless `flatten` is set, and then
 * flattened in C order, so a Fortran-ordered array is transposed. An array
 * with fewer than 2 elements is skipped as "fewer than 2 tokens". Structural
 * problems are checked before skipping, value problems only for arrays that
 * are loaded.
 *
 * @param bytes - the whole file.
 * @param file - path used in error messages.
 * @param options - flattening and the vocabulary size; see {@link NpyTokenOptions}.
 * @returns the ids, or why the array was skipped.
 * @throws TokenFileError naming the file for anything but a readable integer
 *   array: not `.npy`, truncated or trailing data, a non-integer dtype (named),
 *   a negative id, an id above 2^31-1 or at or above `vocabSize` (value named).
 * @throws RangeError when `options.vocabSize` is not an integer in [1, 2^31].
 */
export function parseTokenNpy(bytes: Uint8Array, file: string, options: NpyTokenOptions = {}): TokenArrayResult {
  if (options.vocabSize !== undefined) {
    assertValidVocabSize(options.vocabSize);
  }

  const header = readNpyHeader(bytes, file);
  const dtype = readIntegerDtype(header.descr, file);
  const count = header.shape.reduce((product, dimension) => product * dimension, 1);
  checkDataLength(bytes.length - header.dataOffset, count, header, dtype, file);

  if (header.shape.length !== 1 && options.flatten !== true) {
    return { status: 'skipped', reason: 'not 1-D' };
  }
  if (count < 2) {
    return { status: 'skipped', reason: 'fewer than 2 tokens' };
  }

  const values = decodeData(bytes.subarray(header.dataOffset), count, dtype, file);
  const sourceIndex = header.fortranOrder && header.shape.length > 1 ? fortranIndexInCOrder(header.shape) : null;
  return { status: 'loaded', ids: toTokenIds(values, sourceIndex, file, options.vocabSize) };
}

/** Throws unless the data after the header is exactly `count` items. */
function checkDataLength(available: number, count: number, header: NpyHeader, dtype: IntegerDtype, file: string): void {
  const expected = count * dtype.size;
  const declared = `shape ${formatShape(header.shape)} of ${dtype.name} (${expected} bytes)`;
  if (available < expected) {
    throw new TokenFileError(file, `truncated data: the header declares ${declared} but only ${available} bytes follow it`, 'The file was cut short, e.g. by an interrupted copy; export it again.');
  }
  if (available > expected) {
    throw new TokenFileError(file, `${available - expected} unexpected bytes follow the data of ${declared}`, REEXPORT);
  }
}

/**
 * Decodes `count` items with npyjs from a rebuilt version 1.0 file: a 1-D
 * little-endian array whose header is padded to 64 bytes, so the data is
 * aligned and exactly as long as declared.
 */
function decodeData(data: Uint8Array, count: number, dtype: IntegerDtype, file: string): ArrayLike<number | bigint> {
  const code = `${dtype.signed ? 'i' : 'u'}${dtype.size}`;
  const dict = `{'descr': '${dtype.size === 1 ? '|' : '<'}${code}', 'fortran_order': False, 'shape': (${count},), }`;
  const padding = 64 - ((10 + dict.length + 1) % 64);
  const headerText = `${dict}${' '.repeat(padding % 64)}\n`;
  const dataOffset = 10 + headerText.length;

  const buffer = new ArrayBuffer(dataOffset + count * dtype.size);
  const out = new Uint8Array(buffer);
  out.set(MAGIC);
  out[6] = 1;
  out[7] = 0;
  new DataView(buffer).setUint16(8, headerText.length, true);
  for (let i = 0; i < headerText.length; i++) {
    out[10 + i] = headerText.charCodeAt(i);
  }
  out.set(data.subarray(0, count * dtype.size), dataOffset);
  if (dtype.bigEndian) {
    swapByteOrder(out.subarray(dataOffset), dtype.size);
  }

  // NOTE: npyjs reads the data through typed arrays in the host's byte order,
  // so this assumes a little-endian host (x86-64, arm64).
  let decoded: ArrayLike<number | bigint>;
  try {
    decoded = parseNpyBuffer(buffer).data as unknown as ArrayLike<number | bigint>;
  } catch (error) {
    throw new TokenFileError(file, `npyjs failed to decode ${count} ${dtype.name} values (${String(error)})`, REEXPORT, { cause: error });
  }
  if (decoded.length !== count) {
    throw new TokenFileError(file, `npyjs decoded ${decoded.length} values where the header declares ${count}`, REEXPORT);
  }
  return decoded;
}

/** Reverses the bytes of every `size`-byte item in place. */
function swapByteOrder(data: Uint8Array, size: number): void {
  for (let start = 0; start + size <= data.length; start += size) {
    data.subarray(start, start + size).reverse();
  }
}

/**
 * Maps each position of the C-order flattening of a Fortran-ordered array to
 * the position of the same element in the file.
 */
function fortranIndexInCOrder(shape: number[]): Float64Array {
  const rank = shape.length;
  const strides: number[] = [];
  let stride = 1;
  for (const dimension of shape) {
    strides.push(stride);
    stride *= dimension;
  }

  const count = stride;
  const result = new Float64Array(count);
  const index = new Array<number>(rank).fill(0);
  let offset = 0;
  for (let position = 0; position < count; position++) {
    result[position] = offset;

    // Advance the C-order multi-index: the last axis moves fastest.
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis] += 1;
      offset += strides[axis];
      if (index[axis] < shape[axis]) {
        break;
      }
      offset -= strides[axis] * shape[axis];
      index[axis] = 0;
    }
  }
  return result;
}

/** Copies the values into an Int32Array in C order, checking every id. */
function toTokenIds(values: ArrayLike<number | bigint>, sourceIndex: Float64Array | null, file: string, vocabSize: number | undefined): Int32Array {
  const ids = new Int32Array(values.length);
  for (let position = 0; position < ids.length; position++) {
    const value = values[sourceIndex === null ? position : sourceIndex[position]];
    ids[position] = checkTokenId(value, position, file, vocabSize);
  }
  return ids;
}

/**
 * Checks one id and returns it as a number.
 *
 * @param value - the stored value; int64 and uint64 arrive as bigint.
 * @param position - index in the flattened sequence, for the message.
 * @throws TokenFileError naming the file and the value when the id is
 *   negative, above 2^31-1, or at or above `vocabSize`.
 */
function checkTokenId(value: number | bigint, position: number, file: string, vocabSize: number | undefined): number {
  const negative = typeof value === 'bigint' ? value < 0n : value < 0;
  if (negative) {
    throw new TokenFileError(file, `negative token id ${value} at index ${position}`, 'Token ids must be non-negative integers; check the tokenizer output that produced this file.');
  }

  const tooLarge = typeof value === 'bigint' ? value > BigInt(MAX_TOKEN_ID) : value > MAX_TOKEN_ID;
  if (tooLarge) {
    throw new TokenFileError(file, `token id ${value} at index ${position} does not fit in int32 (maximum ${MAX_TOKEN_ID})`, 'Token ids must be below 2^31; check the tokenizer output that produced this file.');
  }

  const id = Number(value);
  if (vocabSize !== undefined && id >= vocabSize) {
    throw new TokenFileError(
      file,
      `token id ${id} at index ${position} is outside the vocabulary of size ${vocabSize} (ids 0 to ${vocabSize - 1})`,
      'Pass the vocabulary size the tokenizer used, or leave vocabSize unset to derive it from the data.',
    );
  }
  return id;
}

/**
 * Reads and parses the token ids of one `.npy` file.
 *
 * @param file - path of the file.
 * @param options - flattening and the vocabulary size; see {@link NpyTokenOptions}.
 * @returns the ids, or why the array was skipped.
 * @throws TokenFileError naming the file when it cannot be read or parsed (see {@link parseTokenNpy}).
 * @throws RangeError when `options.vocabSize` is not an integer in [1, 2^31].
 */
export async function readTokenNpy(file: string, options: NpyTokenOptions = {}): Promise<TokenArrayResult> {
  const bytes = await readInputFile(file);
  return parseTokenNpy(bytes, file, options);
}
