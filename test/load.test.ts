import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { TokenFileError } from '../src/data/errors.js';
import { loadTokenDirectory, loadTokens, type LoadOptions, type TokenCorpus } from '../src/data/load.js';
import { parseTextUnits, readTextUnits } from '../src/data/textUnits.js';
import { encodeTokensNpy } from '../src/data/writeNpy.js';
import { corpusPath } from './helpers/corpora.js';

/** Awaits `action` and returns the TokenFileError it rejects with, failing on anything else. */
async function catchTokenFileError(action: () => unknown): Promise<TokenFileError> {
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

function tokenCount(corpus: TokenCorpus): number {
  return corpus.sequences.reduce((sum, sequence) => sum + sequence.ids.length, 0);
}

/** Loads with a log that records every line. */
async function loadLogged(source: string, options: LoadOptions = {}): Promise<{ corpus: TokenCorpus; lines: string[] }> {
  const lines: string[] = [];
  const corpus = await loadTokens(source, { ...options, log: (line) => lines.push(line) });
  return { corpus, lines };
}

// ---------------------------------------------------------------------------

interface ExpectedOutcome {
  outcome: string;
  length?: number;
  with_flatten?: ExpectedOutcome;
}

describe('odd-npy folder', () => {
  const dir = corpusPath('odd-npy');
  const expected = JSON.parse(fs.readFileSync(path.join(dir, 'expected.json'), 'utf8')) as Record<string, ExpectedOutcome>;
  const names = Object.keys(expected).sort();
  const withOutcome = (flatten: boolean, prefix: string) =>
    names.filter((name) => ((flatten ? expected[name].with_flatten : undefined) ?? expected[name]).outcome.startsWith(prefix));

  test('default stops at first invalid file', async () => {
    const firstInvalid = withOutcome(false, 'error')[0];
    expect(firstInvalid).toBe('w2v_kmeans_float.npy');

    const error = await catchTokenFileError(() => loadTokens(dir));
    expect(error.file).toBe(path.join(dir, firstInvalid));
    expect(error.message).toContain('float32');
  });

  test('flatten also stops at first invalid file', async () => {
    const error = await catchTokenFileError(() => loadTokenDirectory(dir, { flatten: true }));
    expect(error.file).toBe(path.join(dir, 'w2v_kmeans_float.npy'));
  });

  test('skipInvalid loads the good files', async () => {
    const { corpus, lines } = await loadLogged(dir, { skipInvalid: true });

    expect(corpus.sequences.map((sequence) => sequence.name)).toEqual(withOutcome(false, 'loaded'));
    for (const sequence of corpus.sequences) {
      expect(sequence.ids).toHaveLength(expected[sequence.name].length!);
    }
    expect(corpus.skipped).toEqual(withOutcome(false, 'skipped').map((name) => ({ name, reason: expected[name].outcome.slice('skipped: '.length) })));
    expect(corpus.invalid.map((entry) => entry.name)).toEqual(withOutcome(false, 'error'));
    expect(corpus.invalid.find((entry) => entry.name === 'w2v_kmeans_negative.npy')?.reason).toBe('negative token id -1 at index 2');

    expect(corpus.sequences).toHaveLength(5);
    expect(corpus.skipped).toHaveLength(5);
    expect(corpus.invalid).toHaveLength(4);

    const maxId = Math.max(...corpus.sequences.map((sequence) => Math.max(...sequence.ids)));
    expect(corpus.maxId).toBe(maxId);
    expect(corpus.vocabSize).toBe(maxId + 1);
    expect(corpus.source).toBe(dir);

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^Loaded 5 sequences \\(400 tokens, vocab ${maxId + 1}\\) from `));
    expect(lines[0]).toContain('; skipped 5: 3 not 1-D, 2 fewer than 2 tokens; 4 invalid: w2v_kmeans_float.npy (dtype float32');
    for (const name of withOutcome(false, 'error')) {
      expect(lines[0]).toContain(name);
    }
  });

  test('skipInvalid with flatten loads the grids', async () => {
    const { corpus, lines } = await loadLogged(dir, { skipInvalid: true, flatten: true });
    expect(corpus.sequences.map((sequence) => sequence.name)).toEqual(withOutcome(true, 'loaded'));
    expect(corpus.sequences).toHaveLength(7);
    expect(corpus.skipped.map((entry) => entry.name)).toEqual(['w2v_kmeans_empty.npy', 'w2v_kmeans_length1.npy', 'w2v_kmeans_scalar.npy']);
    expect(lines[0]).toContain('; skipped 3: 3 fewer than 2 tokens; 4 invalid: ');
  });

  test('skipInvalid with vocabSize lists out-of-vocabulary files', async () => {
    // Id 99 occurs in the int16, uint8 and v2header files only.
    const corpus = await loadTokenDirectory(dir, { skipInvalid: true, vocabSize: 99 });
    expect(corpus.vocabSize).toBe(99);
    expect(corpus.sequences.map((sequence) => sequence.name)).toEqual(['w2v_kmeans_bigendian.npy', 'w2v_kmeans_int64.npy']);
    const outOfVocabulary = corpus.invalid.filter((entry) => entry.reason.includes('outside the vocabulary of size 99 (ids 0 to 98)'));
    expect(outOfVocabulary.map((entry) => entry.name)).toEqual(['w2v_kmeans_int16.npy', 'w2v_kmeans_uint8.npy', 'w2v_kmeans_v2header.npy']);
  });
});

// ---------------------------------------------------------------------------

describe('text unit samples', () => {
  const unitsFile = corpusPath('text-units', 'vctk-hubert100-50.units');
  const textFile = corpusPath('text-units', 'vctk-hubert100-50.txt');
  const npyDir = corpusPath('vctk-hubert100', 'tokens', 'k_means');

  test('.units names match the npy files', async () => {
    const { sequences, skipped } = await readTextUnits(unitsFile);
    expect(sequences).toHaveLength(50);
    expect(skipped).toEqual([]);
    expect(sequences[0].name).toBe('p312_228_mic2');

    for (const sequence of sequences) {
      const npy = await loadTokens(path.join(npyDir, `w2v_kmeans_${sequence.name}.npy`));
      expect(npy.sequences).toHaveLength(1);
      expect(Array.from(sequence.ids)).toEqual(Array.from(npy.sequences[0].ids));
    }
  });

  test('.txt lines match the .units lines', async () => {
    const units = await readTextUnits(unitsFile);
    const bare = await readTextUnits(textFile);
    expect(bare.sequences).toHaveLength(50);
    expect(bare.sequences[0].name).toBe('vctk-hubert100-50.txt:1');
    expect(bare.sequences[49].name).toBe('vctk-hubert100-50.txt:50');

    const first = await loadTokens(path.join(npyDir, `w2v_kmeans_${units.sequences[0].name}.npy`));
    const last = await loadTokens(path.join(npyDir, `w2v_kmeans_${units.sequences[49].name}.npy`));
    expect(Array.from(bare.sequences[0].ids)).toEqual(Array.from(first.sequences[0].ids));
    expect(Array.from(bare.sequences[49].ids)).toEqual(Array.from(last.sequences[0].ids));
    bare.sequences.forEach((sequence, index) => {
      expect(Array.from(sequence.ids)).toEqual(Array.from(units.sequences[index].ids));
    });
  });

  test('loadTokens reads a text unit file', async () => {
    const { corpus, lines } = await loadLogged(unitsFile, { vocabSize: 100 });
    expect(corpus.sequences).toHaveLength(50);
    expect(corpus.vocabSize).toBe(100);
    expect(corpus.maxId).toBeLessThan(100);
    expect(lines).toEqual([`Loaded 50 sequences (${tokenCount(corpus).toLocaleString('en-US')} tokens, vocab 100) from ${unitsFile}`]);
  });
});

describe('parseTextUnits', () => {
  const FILE = '/data/units/sample.units';

  test('names, blank lines and line endings', () => {
    const text = '\uFEFFa|1 2 3\r\n\r\n  \n4 5\t6\r|7 8\nb | 9  10 \n';
    const { sequences, skipped } = parseTextUnits(text, FILE);
    expect(sequences.map((sequence) => sequence.name)).toEqual(['a', 'sample.units:4', 'sample.units:5', 'b']);
    expect(sequences.map((sequence) => Array.from(sequence.ids))).toEqual([
      [1, 2, 3],
      [4, 5, 6],
      [7, 8],
      [9, 10],
    ]);
    expect(skipped).toEqual([]);
  });

  test('bytes decode as UTF-8', () => {
    const { sequences } = parseTextUnits(new TextEncoder().encode('x|1 2\n'), FILE);
    expect(sequences).toEqual([{ name: 'x', ids: Int32Array.from([1, 2]) }]);
  });

  test('short lines are skipped', () => {
    const { sequences, skipped } = parseTextUnits('a|1\nb|\n3\nc|1 2\n', FILE);
    expect(sequences.map((sequence) => sequence.name)).toEqual(['c']);
    expect(skipped).toEqual([
      { name: 'a', reason: 'fewer than 2 tokens' },
      { name: 'b', reason: 'fewer than 2 tokens' },
      { name: 'sample.units:3', reason: 'fewer than 2 tokens' },
    ]);
  });

  test.each([
    ['a|1 2\nb|3 x4 5\n', 2, 'invalid token "x4" (token 2 of the line) is not a non-negative integer'],
    ['1 2\n\n3 -4\n', 3, 'negative token id -4 (token 2 of the line)'],
    ['1 2.5\n', 1, 'invalid token "2.5" (token 2 of the line) is not a non-negative integer'],
    ['1 2147483648\n', 1, 'token id "2147483648" does not fit in int32 (maximum 2147483647)'],
    ['a|1 2\nb|2|3\n', 2, 'invalid token "2|3" (token 1 of the line) is not a non-negative integer'],
    ['a|1 2\na|3 4\n', 2, 'duplicate sequence name "a", first used on line 1'],
  ])('%j is rejected', (text, line, reason) => {
    const error = (() => {
      try {
        parseTextUnits(text, FILE);
      } catch (caught) {
        return caught;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(TokenFileError);
    expect((error as TokenFileError).line).toBe(line);
    expect((error as TokenFileError).reason).toBe(reason);
    expect((error as TokenFileError).message.startsWith(`${FILE}:${line}: ${reason}.`)).toBe(true);
  });

  test('id at vocabSize names value and size', () => {
    expect(() => parseTextUnits('1 2\n3 100\n', FILE, { vocabSize: 100 })).toThrow(
      `${FILE}:2: token id 100 (token 2 of the line) is outside the vocabulary of size 100 (ids 0 to 99).`,
    );
  });

  test('invalid UTF-8 is rejected', () => {
    expect(() => parseTextUnits(new Uint8Array([0x31, 0x20, 0xc3, 0x28]), FILE)).toThrow(`${FILE}: the file is not valid UTF-8 text.`);
  });
});

// ---------------------------------------------------------------------------

describe('real corpora', () => {
  test('vctk-hubert100 kmeans', async () => {
    const dir = corpusPath('vctk-hubert100', 'tokens', 'k_means');
    const started = performance.now();
    const { corpus, lines } = await loadLogged(dir, { type: 'kmeans' });
    const seconds = (performance.now() - started) / 1000;

    expect(corpus.sequences).toHaveLength(2174);
    expect(tokenCount(corpus)).toBe(359_666);
    expect(corpus.vocabSize).toBe(100);
    expect(corpus.maxId).toBe(99);
    const lengths = corpus.sequences.map((sequence) => sequence.ids.length);
    expect(Math.min(...lengths)).toBe(71);
    expect(Math.max(...lengths)).toBe(619);
    expect(corpus.skipped).toEqual([]);
    expect(corpus.invalid).toEqual([]);

    const names = corpus.sequences.map((sequence) => sequence.name);
    expect(names).toEqual([...names].sort());
    expect(names[0]).toBe('w2v_kmeans_p225_007_mic2.npy');
    expect(lines).toEqual([`Loaded 2,174 sequences (359,666 tokens, vocab 100) from ${dir}`]);

    // Reading about 2,200 small files takes a fraction of a second on a
    // 2-core machine; the bound leaves room for slow CI disks.
    expect(seconds).toBeLessThan(5);
  });

  test('vctk-vqvae256 vqvae', async () => {
    const dir = corpusPath('vctk-vqvae256', 'tokens', 'vqvae');
    const corpus = await loadTokenDirectory(dir, { type: 'vqvae' });
    expect(corpus.sequences).toHaveLength(2174);
    expect(tokenCount(corpus)).toBe(723_680);
    expect(corpus.vocabSize).toBe(256);
    const lengths = corpus.sequences.map((sequence) => sequence.ids.length);
    expect(Math.min(...lengths)).toBe(144);
    expect(Math.max(...lengths)).toBe(1240);
  });

  test('vqvae type on k_means folder', async () => {
    const dir = corpusPath('vctk-hubert100', 'tokens', 'k_means');
    const error = await catchTokenFileError(() => loadTokens(dir, { type: 'vqvae' }));
    expect(error.file).toBe(dir);
    expect(error.message).toContain(dir);
    expect(error.message).toContain("*vqvae_*.npy (type 'vqvae')");
    expect(error.message).toContain('found instead: w2v_kmeans_* (2,174 files)');
    expect(error.message).toContain("Pass type: 'kmeans'");
  });

  test('default selection loads every npy file', async () => {
    const corpus = await loadTokens(corpusPath('vctk-vqvae256', 'tokens', 'vqvae'));
    expect(corpus.sequences).toHaveLength(2174);
  });
});

// ---------------------------------------------------------------------------

describe('loadTokenDirectory on temporary folders', () => {
  let dir: string;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'acoustic-lm-load-'));
  });

  afterEach(() => {
    fs.rmSync(dir, { recursive: true, force: true });
  });

  /** A little-endian int16 array of shape (rows, columns) in a version 1.0 file. */
  function npyInt16Grid(rows: number[][]): Buffer {
    const dict = `{'descr': '<i2', 'fortran_order': False, 'shape': (${rows.length}, ${rows[0].length}), }`;
    const header = `${dict.padEnd(53, ' ')}\n`;
    const prefix = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, header.length, 0]);
    const data = Buffer.from(Int16Array.from(rows.flat()).buffer);
    return Buffer.concat([prefix, Buffer.from(header, 'latin1'), data]);
  }

  function writeTokens(name: string, ids: number[], vocabSize = 1000): void {
    fs.writeFileSync(path.join(dir, name), new Uint8Array(encodeTokensNpy(ids, vocabSize)));
  }

  test('missing folder names it', async () => {
    const missing = path.join(dir, 'nope');
    const folderError = await catchTokenFileError(() => loadTokenDirectory(missing));
    expect(folderError.file).toBe(missing);
    expect(folderError.reason).toBe('folder not found');

    const pathError = await catchTokenFileError(() => loadTokens(missing));
    expect(pathError.file).toBe(missing);
    expect(pathError.reason).toBe('no such file or folder');
  });

  test('file passed as folder', async () => {
    writeTokens('a.npy', [1, 2]);
    const error = await catchTokenFileError(() => loadTokenDirectory(path.join(dir, 'a.npy')));
    expect(error.reason).toBe('the path is not a folder');
  });

  test('empty folder says so', async () => {
    const error = await catchTokenFileError(() => loadTokens(dir));
    expect(error.message).toContain(`${dir}: no file matches *.npy; the folder is empty.`);
  });

  test('folder of subfolders says so', async () => {
    fs.mkdirSync(path.join(dir, 'k_means'));
    const error = await catchTokenFileError(() => loadTokens(dir, { type: 'kmeans' }));
    expect(error.reason).toBe("no file matches *w2v_kmeans_*.npy (type 'kmeans'); the folder contains no files, only 1 subfolder");
  });

  test('no match lists the groups found', async () => {
    fs.writeFileSync(path.join(dir, 'notes.json'), '{}');
    fs.writeFileSync(path.join(dir, 'a.csv'), '');
    fs.writeFileSync(path.join(dir, 'b.csv'), '');
    const error = await catchTokenFileError(() => loadTokens(dir, { glob: '*.units' }));
    expect(error.reason).toBe("no file matches the glob '*.units'; found instead: *.csv (2 files), *.json (1 file)");
  });

  test('files load in code unit order', async () => {
    for (const [index, name] of ['b.npy', 'B.npy', 'a.npy', '_x.npy', 'a0.npy'].entries()) {
      writeTokens(name, [index, index]);
    }
    const corpus = await loadTokens(dir);
    expect(corpus.sequences.map((sequence) => sequence.name)).toEqual(['B.npy', '_x.npy', 'a.npy', 'a0.npy', 'b.npy']);
    expect(corpus.sequences.map((sequence) => sequence.ids[0])).toEqual([1, 3, 2, 4, 0]);
  });

  test('type and glob select files', async () => {
    writeTokens('w2v_kmeans_p1_001.npy', [1, 2]);
    writeTokens('w2v_kmeans_p1_002.npy', [3, 4]);
    writeTokens('w2v_kmeans_p2_001.npy', [5, 6]);
    writeTokens('vqvae_p1_001.npy', [7, 8]);
    fs.writeFileSync(path.join(dir, 'w2v_kmeans_index.txt'), '9 9\n');

    const names = async (options: LoadOptions) => (await loadTokens(dir, options)).sequences.map((sequence) => sequence.name);
    expect(await names({ type: 'kmeans' })).toEqual(['w2v_kmeans_p1_001.npy', 'w2v_kmeans_p1_002.npy', 'w2v_kmeans_p2_001.npy']);
    expect(await names({ type: 'vqvae' })).toEqual(['vqvae_p1_001.npy']);
    expect(await names({ glob: '*_p1_00?.npy' })).toEqual(['vqvae_p1_001.npy', 'w2v_kmeans_p1_001.npy', 'w2v_kmeans_p1_002.npy']);
    expect(await names({ type: 'kmeans', glob: '*_001.*' })).toEqual(['w2v_kmeans_p1_001.npy', 'w2v_kmeans_p2_001.npy']);
    expect(await names({})).toHaveLength(4);
    expect(await names({ glob: '*.txt' })).toEqual(['w2v_kmeans_index.txt:1']);
  });

  test('glob treats regex characters literally', async () => {
    writeTokens('a+b.npy', [1, 2]);
    writeTokens('aab.npy', [1, 2]);
    const corpus = await loadTokens(dir, { glob: 'a+b.npy' });
    expect(corpus.sequences.map((sequence) => sequence.name)).toEqual(['a+b.npy']);
  });

  test('unmatched type suggests the other type', async () => {
    writeTokens('vqvae_a.npy', [1, 2]);
    const error = await catchTokenFileError(() => loadTokens(dir, { type: 'kmeans' }));
    expect(error.message).toContain("found instead: vqvae_* (1 file). Pass type: 'vqvae' to load the vqvae_* files");
  });

  test('first invalid file in name order is thrown', async () => {
    for (let index = 0; index < 150; index++) {
      writeTokens(`f${String(index).padStart(3, '0')}.npy`, [index % 7, 1, 2]);
    }
    fs.writeFileSync(path.join(dir, 'f003.npy'), 'not npy');
    fs.writeFileSync(path.join(dir, 'f120.npy'), 'not npy');
    const error = await catchTokenFileError(() => loadTokens(dir));
    expect(error.file).toBe(path.join(dir, 'f003.npy'));

    const corpus = await loadTokens(dir, { skipInvalid: true });
    expect(corpus.sequences).toHaveLength(148);
    expect(corpus.invalid.map((entry) => entry.name)).toEqual(['f003.npy', 'f120.npy']);
  });

  test('invalid text unit line is reported with its line', async () => {
    writeTokens('a.npy', [1, 2]);
    fs.writeFileSync(path.join(dir, 'b.units'), 'x|1 2\ny|3 q\n');
    const corpus = await loadTokens(dir, { glob: '*', skipInvalid: true });
    expect(corpus.invalid).toEqual([{ name: 'b.units', reason: 'line 2: invalid token "q" (token 2 of the line) is not a non-negative integer' }]);
  });

  test('unsupported extension is invalid', async () => {
    fs.writeFileSync(path.join(dir, 'a.csv'), '1,2');
    const error = await catchTokenFileError(() => loadTokens(dir, { glob: '*.csv' }));
    expect(error.reason).toBe("unsupported file extension '.csv'");
    expect(await catchTokenFileError(() => loadTokens(path.join(dir, 'a.csv')))).toMatchObject({ reason: "unsupported file extension '.csv'" });
  });

  test('all files skipped is an error', async () => {
    writeTokens('a.npy', [1]);
    fs.writeFileSync(path.join(dir, 'b.npy'), npyInt16Grid([[1], [2]]));
    const error = await catchTokenFileError(() => loadTokens(dir));
    expect(error.file).toBe(dir);
    expect(error.reason).toBe('no sequence to load: skipped 2: 1 fewer than 2 tokens, 1 not 1-D');
    expect(error.message).toContain('flatten: true');

    const flattened = await loadTokens(dir, { flatten: true });
    expect(flattened.sequences.map((sequence) => Array.from(sequence.ids))).toEqual([[1, 2]]);
  });

  test('given vocabSize is kept and checked', async () => {
    writeTokens('a.npy', [1, 2, 30]);
    const corpus = await loadTokens(dir, { vocabSize: 64 });
    expect(corpus.vocabSize).toBe(64);
    expect(corpus.maxId).toBe(30);

    const error = await catchTokenFileError(() => loadTokens(dir, { vocabSize: 30 }));
    expect(error.message).toContain('token id 30');
    expect(error.message).toContain('vocabulary of size 30');
  });

  test('single npy file loads', async () => {
    writeTokens('w2v_kmeans_x.npy', [4, 5, 6]);
    const file = path.join(dir, 'w2v_kmeans_x.npy');
    const { corpus, lines } = await loadLogged(file);
    expect(corpus).toEqual({
      sequences: [{ name: 'w2v_kmeans_x.npy', ids: Int32Array.from([4, 5, 6]) }],
      vocabSize: 7,
      maxId: 6,
      source: file,
      skipped: [],
      invalid: [],
    });
    expect(lines).toEqual([`Loaded 1 sequence (3 tokens, vocab 7) from ${file}`]);
  });

  test('invalid options are a RangeError', async () => {
    writeTokens('a.npy', [1, 2]);
    await expect(loadTokens(dir, { vocabSize: 0 })).rejects.toThrow(RangeError);
    await expect(loadTokens(dir, { type: 'hubert' as never })).rejects.toThrow("type must be 'kmeans' or 'vqvae', received \"hubert\".");
  });
});
