import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import fc from 'fast-check';

import { TokenFileError } from '../src/data/errors.js';
import { loadTokenDirectory } from '../src/data/load.js';
import { parseTokenNpy, type NpyTokenOptions } from '../src/data/npy.js';
import { parseTextUnits, type TextUnitContents } from '../src/data/textUnits.js';
import { encodeTokensNpy } from '../src/data/writeNpy.js';
import { corpusPath } from './helpers/corpora.js';

const RUNS = 500;
const NPY_FILE = '/fuzz/tokens/w2v_kmeans_case.npy';
const TEXT_FILE = '/fuzz/units/case.units';

/** Fails unless `error` is a TokenFileError that names `file`. */
function expectTokenFileError(error: unknown, file: string): void {
  if (!(error instanceof TokenFileError)) {
    throw new Error(`expected only TokenFileError, got ${String(error)}`, { cause: error });
  }
  expect(error.file).toBe(file);
  expect(error.message).toContain(file);
}

/** Fails unless every id is a non-negative integer below `vocabSize` (when given) in an Int32Array of 2 or more. */
function expectValidIds(ids: Int32Array, vocabSize: number | undefined): void {
  expect(ids).toBeInstanceOf(Int32Array);
  expect(ids.length).toBeGreaterThanOrEqual(2);
  const bound = vocabSize ?? 2 ** 31;
  const bad = ids.findIndex((id) => id < 0 || id >= bound);
  expect(bad).toBe(-1);
}

/** Parses `.npy` bytes and checks that the outcome is valid ids, a skip, or a TokenFileError. */
function checkNpyOutcome(bytes: Uint8Array, options: NpyTokenOptions): void {
  let result;
  try {
    result = parseTokenNpy(bytes, NPY_FILE, options);
  } catch (error) {
    expectTokenFileError(error, NPY_FILE);
    return;
  }
  if (result.status === 'loaded') {
    expectValidIds(result.ids, options.vocabSize);
  } else {
    expect(['not 1-D', 'fewer than 2 tokens']).toContain(result.reason);
    if (result.reason === 'not 1-D') {
      expect(options.flatten).not.toBe(true);
    }
  }
}

/** Parses a text unit file and checks that the outcome is valid sequences or a TokenFileError. */
function checkTextOutcome(content: string | Uint8Array, vocabSize: number | undefined): void {
  let contents: TextUnitContents;
  try {
    contents = parseTextUnits(content, TEXT_FILE, { vocabSize });
  } catch (error) {
    expectTokenFileError(error, TEXT_FILE);
    return;
  }
  const names = [...contents.sequences.map((sequence) => sequence.name), ...contents.skipped.map((skip) => skip.name)];
  expect(new Set(names).size).toBe(names.length);
  for (const sequence of contents.sequences) {
    expect(sequence.name.length).toBeGreaterThan(0);
    expectValidIds(sequence.ids, vocabSize);
  }
}

const npyOptions: fc.Arbitrary<NpyTokenOptions> = fc.record({
  flatten: fc.boolean(),
  vocabSize: fc.option(fc.integer({ min: 1, max: 300 }), { nil: undefined }),
});

// ---------------------------------------------------------------------------
// Valid .npy files to mutate: every file of the odd-npy corpus (several
// dtypes, byte orders, versions and shapes) and freshly encoded sequences.

const oddDir = corpusPath('odd-npy');
const corpusFiles = fs
  .readdirSync(oddDir)
  .filter((name) => name.endsWith('.npy'))
  .sort()
  .map((name) => new Uint8Array(fs.readFileSync(path.join(oddDir, name))));

const npyBase: fc.Arbitrary<Uint8Array> = fc.oneof(
  fc.constantFrom(...corpusFiles),
  fc
    .record({ ids: fc.array(fc.integer({ min: 0, max: 99 }), { maxLength: 60 }), wide: fc.boolean() })
    .map(({ ids, wide }) => new Uint8Array(encodeTokensNpy(ids, wide ? 40_000 : 100))),
);

const HEADER_FIND = [
  "'<i2'",
  "'<i4'",
  "'<i8'",
  "'|u1'",
  "'>i2'",
  'False',
  'True',
  '(80,)',
  '(3, 20)',
  '(0,)',
  "'descr'",
  "'shape'",
  "'fortran_order'",
  '}',
  ',',
  ':',
];
const HEADER_REPLACE = [
  "'<f4'",
  "'>i2'",
  "'<i2'",
  "'>i8'",
  "'|b1'",
  "'<u8'",
  "'|O'",
  "'<U3'",
  "[('a', '<i4')]",
  'True',
  'False',
  '(79,)',
  '(81,)',
  '(0,)',
  '()',
  '(40, 2)',
  '(2, 40)',
  '(2, 2, 20)',
  '(80)',
  '(-1,)',
  '(99999999999999999999,)',
  '(80L,)',
  '',
  "'x'",
  '{',
];

type Mutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'flip'; at: number; mask: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'edit'; find: string; replace: string }
  | { kind: 'insert'; at: number; bytes: Uint8Array };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), mask: fc.integer({ min: 1, max: 255 }) }),
  // Bytes 6 to 11 are the version and the header length.
  fc.record({ kind: fc.constant('set' as const), at: fc.integer({ min: 0, max: 11 }), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('edit' as const), find: fc.constantFrom(...HEADER_FIND), replace: fc.constantFrom(...HEADER_REPLACE) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 9 }) }),
);

function applyMutation(bytes: Uint8Array, change: Mutation): Uint8Array {
  const length = bytes.length;
  switch (change.kind) {
    case 'truncate':
      return bytes.slice(0, length === 0 ? 0 : change.at % length);
    case 'flip': {
      const copy = bytes.slice();
      if (length > 0) {
        copy[change.at % length] ^= change.mask;
      }
      return copy;
    }
    case 'set': {
      const copy = bytes.slice();
      if (change.at < length) {
        copy[change.at] = change.value;
      }
      return copy;
    }
    case 'edit':
      return editHeader(bytes, change.find, change.replace);
    case 'insert': {
      const at = length === 0 ? 0 : change.at % (length + 1);
      return new Uint8Array(Buffer.concat([bytes.subarray(0, at), change.bytes, bytes.subarray(at)]));
    }
  }
}

/**
 * Replaces the first `find` in the header text and rewrites the header length
 * field, so the edit reaches the dtype and shape checks instead of only
 * breaking the header bounds. Bytes that are not a whole `.npy` header get a
 * plain replacement anywhere.
 */
function editHeader(bytes: Uint8Array, find: string, replace: string): Uint8Array {
  // Latin-1 maps bytes to characters one to one, so the data survives.
  const buffer = Buffer.from(bytes);
  const version = buffer.length >= 12 && buffer.toString('latin1', 0, 6) === '\x93NUMPY' ? buffer[6] : 0;
  if (version < 1 || version > 3) {
    return new Uint8Array(Buffer.from(buffer.toString('latin1').replace(find, replace), 'latin1'));
  }

  // Version 1.0 stores the header length in 2 bytes, later versions in 4.
  const lengthField = version === 1 ? 2 : 4;
  const headerStart = 8 + lengthField;
  const headerLength = version === 1 ? buffer.readUInt16LE(8) : buffer.readUInt32LE(8);
  if (headerStart + headerLength > buffer.length) {
    return new Uint8Array(Buffer.from(buffer.toString('latin1').replace(find, replace), 'latin1'));
  }

  const header = Buffer.from(buffer.toString('latin1', headerStart, headerStart + headerLength).replace(find, replace), 'latin1');
  const prefix = Buffer.from(buffer.subarray(0, headerStart));
  if (lengthField === 2) {
    prefix.writeUInt16LE(header.length, 8);
  } else {
    prefix.writeUInt32LE(header.length, 8);
  }
  return new Uint8Array(Buffer.concat([prefix, header, buffer.subarray(headerStart + headerLength)]));
}

const mutatedNpy: fc.Arbitrary<Uint8Array> = fc
  .tuple(npyBase, fc.array(mutation, { minLength: 1, maxLength: 3 }))
  .map(([base, changes]) => changes.reduce(applyMutation, base));

describe('npy parser fuzz', () => {
  test('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), npyOptions, (bytes, options) => {
        checkNpyOutcome(bytes, options);
      }),
      { numRuns: RUNS },
    );
  });

  test('random bytes after the magic string', () => {
    const magic = (version: number) => new Uint8Array([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, version, 0]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 3 }), fc.uint8Array({ maxLength: 400 }), npyOptions, (version, rest, options) => {
        checkNpyOutcome(new Uint8Array(Buffer.concat([magic(version), rest])), options);
      }),
      { numRuns: RUNS },
    );
  });

  test('mutated valid files', () => {
    fc.assert(
      fc.property(mutatedNpy, npyOptions, (bytes, options) => {
        checkNpyOutcome(bytes, options);
      }),
      { numRuns: RUNS },
    );
  });

  test('encoded sequences round trip', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 39_999 }), { minLength: 2, maxLength: 200 }), (ids) => {
        const result = parseTokenNpy(new Uint8Array(encodeTokensNpy(ids, 40_000)), NPY_FILE, { vocabSize: 40_000 });
        expect(result.status === 'loaded' ? Array.from(result.ids) : result.reason).toEqual(ids);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------------------

const unitsSample = fs.readFileSync(corpusPath('text-units', 'vctk-hubert100-50.units'), 'utf8').split('\n').slice(0, 4).join('\n');
const textAlphabet = fc.constantFrom('0', '1', '7', '9', ' ', ' ', '\t', '\n', '\r', '|', '-', '.', 'a', 'p', '_', '\u00a0', '\uFEFF', '\u0000');

type TextMutation =
  | { kind: 'truncate'; at: number }
  | { kind: 'replace'; at: number; text: string }
  | { kind: 'insert'; at: number; text: string }
  | { kind: 'delete'; at: number; count: number };

const textMutation: fc.Arbitrary<TextMutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), text: fc.string({ unit: textAlphabet, minLength: 1, maxLength: 3 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.string({ unit: textAlphabet, minLength: 1, maxLength: 12 }) }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 40 }) }),
);

function applyTextMutation(text: string, change: TextMutation): string {
  const at = change.at % (text.length + 1);
  switch (change.kind) {
    case 'truncate':
      return text.slice(0, at);
    case 'replace':
      return text.slice(0, at) + change.text + text.slice(at + change.text.length);
    case 'insert':
      return text.slice(0, at) + change.text + text.slice(at);
    case 'delete':
      return text.slice(0, at) + text.slice(at + change.count);
  }
}

const vocabOption = fc.option(fc.integer({ min: 1, max: 120 }), { nil: undefined });

describe('text unit parser fuzz', () => {
  test('random text', () => {
    fc.assert(
      fc.property(fc.string({ unit: textAlphabet, maxLength: 200 }), vocabOption, (text, vocabSize) => {
        checkTextOutcome(text, vocabSize);
      }),
      { numRuns: RUNS },
    );
  });

  test('random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), vocabOption, (bytes, vocabSize) => {
        checkTextOutcome(bytes, vocabSize);
      }),
      { numRuns: RUNS },
    );
  });

  test('mutated sample file', () => {
    fc.assert(
      fc.property(fc.array(textMutation, { minLength: 1, maxLength: 4 }), vocabOption, fc.boolean(), (changes, vocabSize, asBytes) => {
        const text = changes.reduce(applyTextMutation, unitsSample);
        checkTextOutcome(asBytes ? new TextEncoder().encode(text) : text, vocabSize);
      }),
      { numRuns: RUNS },
    );
  });
});

// ---------------------------------------------------------------------------

describe('folder loader fuzz', () => {
  let dir: string;

  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-fuzz-'));
  });

  afterAll(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('mutated files with skipInvalid', async () => {
    let round = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(mutatedNpy, { minLength: 1, maxLength: 4 }), fc.boolean(), async (files, flatten) => {
        const folder = path.join(dir, `round${round++}`);
        fs.mkdirSync(folder);
        files.forEach((bytes, index) => fs.writeFileSync(path.join(folder, `w2v_kmeans_${index}.npy`), bytes));

        try {
          const corpus = await loadTokenDirectory(folder, { type: 'kmeans', flatten, skipInvalid: true });
          expect(corpus.sequences.length + corpus.skipped.length + corpus.invalid.length).toBe(files.length);
          for (const sequence of corpus.sequences) {
            expectValidIds(sequence.ids, corpus.vocabSize);
          }
        } catch (error) {
          // Only a folder with no sequence left may fail, and the error names the folder.
          expectTokenFileError(error, folder);
          expect((error as TokenFileError).reason).toMatch(/^no sequence to load/);
        }
      }),
      { numRuns: 100 },
    );
  });
});
