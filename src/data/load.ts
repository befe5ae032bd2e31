/**
 * Loading a corpus of acoustic token sequences: a folder of `.npy` files with
 * one sequence per recording, a single `.npy` file, or a text unit file.
 */

import type { Dirent } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import * as path from 'node:path';

import { TokenFileError, assertValidVocabSize } from './errors.js';
import { readTokenNpy } from './npy.js';
import { readTextUnits } from './textUnits.js';

/** One token sequence, usually one recording. */
export interface TokenSequence {
  /** File name of a `.npy` file, or the name of a text unit line. */
  name: string;
  /** Token ids, all non-negative and below the corpus vocabulary size. */
  ids: Int32Array;
}

/** A file or line that yields no sequence, and why. */
export interface LoadSkip {
  /** File name of a `.npy` file, or the name of a text unit line, as in {@link TokenSequence.name}. */
  name: string;
  /** e.g. "not 1-D", "fewer than 2 tokens", or the reason of a TokenFileError. */
  reason: string;
}

/** Token sequences loaded from one source, with what was left out. */
export interface TokenCorpus {
  /** Sequences in file name order, and in line order within a text unit file. */
  sequences: TokenSequence[];
  /** `LoadOptions.vocabSize` when given, else `maxId + 1`. */
  vocabSize: number;
  /** Largest id in the corpus. */
  maxId: number;
  /** The folder or file the corpus was loaded from, as passed in. */
  source: string;
  /** Readable arrays or lines that are not sequences: not 1-D, or fewer than 2 tokens. */
  skipped: LoadSkip[];
  /** Files rejected with a TokenFileError; only filled when `skipInvalid` is set. */
  invalid: LoadSkip[];
}

/** Tokenizer family, which selects files by the name prefix its export writes. */
export type TokenType = 'kmeans' | 'vqvae';

/** Options of {@link loadTokens} and {@link loadTokenDirectory}. */
export interface LoadOptions {
  /**
   * Select the files of one tokenizer in a folder: `'kmeans'` takes `.npy`
   * files whose names contain `w2v_kmeans_`, `'vqvae'` those containing
   * `vqvae_`. Ignored when the source is a file.
   */
  type?: TokenType;
  /**
   * Wildcard pattern over file names in a folder: `*` matches any run of
   * characters, `?` one character, and matching is case-sensitive. When both
   * `type` and `glob` are given, a file must match both. With neither, every
   * `*.npy` file is loaded. Ignored when the source is a file.
   */
  glob?: string;
  /** Number of ids in the vocabulary; ids at or above it are invalid. Default: max id + 1. */
  vocabSize?: number;
  /** Flatten arrays that are not 1-D in C order instead of skipping them. Default false. */
  flatten?: boolean;
  /**
   * In a folder, list invalid files in `invalid` and go on. Default false:
   * loading stops at the first invalid file in name order and throws its error.
   */
  skipInvalid?: boolean;
  /** Receives one summary line after loading. Default: no output. */
  log?: (line: string) => void;
}

/** Marker that each tokenizer's export puts in its file names. */
const TYPE_MARKERS: Record<TokenType, string> = { kmeans: 'w2v_kmeans_', vqvae: 'vqvae_' };

const TEXT_EXTENSIONS = new Set(['.txt', '.units']);

/** Files read concurrently; bounded so large folders do not exhaust file handles. */
const READ_BATCH = 64;

/** Invalid files named in the summary line; `TokenCorpus.invalid` lists all of them. */
const MAX_INVALID_IN_SUMMARY = 50;

/** Sequences and skips gathered from one or more files. */
interface LoadedParts {
  sequences: TokenSequence[];
  skipped: LoadSkip[];
  invalid: LoadSkip[];
}

/** File name filter of a folder load, with its description for messages. */
interface FileSelection {
  matches: (name: string) => boolean;
  description: string;
}

/** Files and subfolder count of a folder. */
interface FolderListing {
  files: string[];
  folderCount: number;
}

/**
 * Loads token sequences from a folder, a `.npy` file, or a `.txt`/`.units`
 * text unit file.
 *
 * @param source - path of the folder or file.
 * @param options - file selection, vocabulary size, flattening and logging; see {@link LoadOptions}.
 * @returns the corpus, with at least one sequence.
 * @throws TokenFileError naming the path when it does not exist, when a file
 *   has an unsupported extension or is invalid (a single invalid file is
 *   always rejected, even with `skipInvalid`), or when no sequence is left.
 * @throws RangeError when `vocabSize` or `type` is not a valid value.
 *
 * @example
 * const corpus = await loadTokens('tokens/k_means', { type: 'kmeans', log: console.log });
 * // Loaded 2,174 sequences (359,666 tokens, vocab 100) from tokens/k_means
 */
export async function loadTokens(source: string, options: LoadOptions = {}): Promise<TokenCorpus> {
  let isFolder: boolean;
  try {
    isFolder = (await stat(source)).isDirectory();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason = code === 'ENOENT' ? 'no such file or folder' : `cannot access the path (${code ?? String(error)})`;
    throw new TokenFileError(source, reason, 'Pass a folder of .npy files, a .npy file, or a .txt or .units text unit file.', { cause: error });
  }
  if (isFolder) {
    return loadTokenDirectory(source, options);
  }

  validateOptions(options);
  const parts: LoadedParts = { ...(await loadFile(source, options)), invalid: [] };
  return assembleCorpus(source, parts, options);
}

/**
 * Loads the token files of one folder, in sorted name order (plain UTF-16
 * code unit order, so `B.npy` comes before `a.npy`). Subfolders are not searched.
 *
 * @param dir - path of the folder.
 * @param options - file selection, vocabulary size, flattening and logging; see {@link LoadOptions}.
 * @returns the corpus, with at least one sequence.
 * @throws TokenFileError naming the folder when it is missing or no file
 *   matches (the message lists what the folder contains instead), naming the
 *   first invalid file unless `skipInvalid` is set, or naming the folder when
 *   no sequence is left.
 * @throws RangeError when `vocabSize` or `type` is not a valid value.
 */
export async function loadTokenDirectory(dir: string, options: LoadOptions = {}): Promise<TokenCorpus> {
  validateOptions(options);
  const selection = selectFiles(options);
  const listing = await listFolder(dir);
  const names = listing.files.filter(selection.matches).sort();
  if (names.length === 0) {
    throw noMatchingFile(dir, selection, listing, options.type);
  }

  const parts: LoadedParts = { sequences: [], skipped: [], invalid: [] };
  for (let start = 0; start < names.length; start += READ_BATCH) {
    const batch = names.slice(start, start + READ_BATCH);
    const outcomes = await Promise.all(batch.map((name) => loadFileOrError(path.join(dir, name), options)));

    // Outcomes are handled in name order, so the error thrown is always the
    // first invalid file in sorted order, whichever read finished first.
    for (const [index, outcome] of outcomes.entries()) {
      if (outcome instanceof TokenFileError) {
        if (options.skipInvalid !== true) {
          throw outcome;
        }
        const where = outcome.line === undefined ? '' : `line ${outcome.line}: `;
        parts.invalid.push({ name: batch[index], reason: `${where}${outcome.reason}` });
      } else {
        parts.sequences.push(...outcome.sequences);
        parts.skipped.push(...outcome.skipped);
      }
    }
  }

  return assembleCorpus(dir, parts, options);
}

function validateOptions(options: LoadOptions): void {
  if (options.vocabSize !== undefined) {
    assertValidVocabSize(options.vocabSize);
  }
  if (options.type !== undefined && !Object.hasOwn(TYPE_MARKERS, options.type)) {
    throw new RangeError(`type must be 'kmeans' or 'vqvae', received ${JSON.stringify(options.type)}.`);
  }
}

/** Builds the file name filter of a folder load from `type` and `glob`. */
function selectFiles(options: LoadOptions): FileSelection {
  const tests: Array<(name: string) => boolean> = [];
  const descriptions: string[] = [];

  if (options.type !== undefined) {
    const marker = TYPE_MARKERS[options.type];
    tests.push((name) => name.includes(marker) && name.endsWith('.npy'));
    descriptions.push(`*${marker}*.npy (type '${options.type}')`);
  }
  if (options.glob !== undefined) {
    const pattern = globToRegExp(options.glob);
    tests.push((name) => pattern.test(name));
    descriptions.push(`the glob '${options.glob}'`);
  }
  if (tests.length === 0) {
    tests.push((name) => name.endsWith('.npy'));
    descriptions.push('*.npy');
  }

  return { matches: (name) => tests.every((test) => test(name)), description: descriptions.join(' and ') };
}

/** Converts a `*`/`?` wildcard pattern into an anchored regular expression. */
function globToRegExp(glob: string): RegExp {
  const parts = Array.from(glob, (character) => {
    if (character === '*') {
      return '.*';
    }
    if (character === '?') {
      return '.';
    }
    return character.replace(/[.+^${}()|[\]\\/]/g, '\\$&');
  });
  return new RegExp(`^${parts.join('')}$`, 'su');
}

/** Lists the files of a folder; symbolic links count as files and are checked when read. */
async function listFolder(dir: string): Promise<FolderListing> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    let reason = `cannot list the folder (${code ?? String(error)})`;
    if (code === 'ENOENT') {
      reason = 'folder not found';
    } else if (code === 'ENOTDIR') {
      reason = 'the path is not a folder';
    }
    throw new TokenFileError(dir, reason, 'Check the path of the token folder.', { cause: error });
  }

  const files = entries.filter((entry) => entry.isFile() || entry.isSymbolicLink()).map((entry) => entry.name);
  const folderCount = entries.filter((entry) => entry.isDirectory()).length;
  return { files, folderCount };
}

/** Describes an empty selection, with the groups of names that the folder does contain. */
function noMatchingFile(dir: string, selection: FileSelection, listing: FolderListing, type: TokenType | undefined): TokenFileError {
  let contents: string;
  if (listing.files.length === 0) {
    contents = listing.folderCount === 0 ? 'the folder is empty' : `the folder contains no files, only ${plural(listing.folderCount, 'subfolder')}`;
  } else {
    const groups = countNameGroups(listing.files);
    const shown = groups.slice(0, 5).map(([group, count]) => `${group} (${plural(count, 'file')})`);
    const more = groups.length > 5 ? ` and ${plural(groups.length - 5, 'other group')}` : '';
    contents = `found instead: ${shown.join(', ')}${more}`;
  }

  // Suggest the other tokenizer type when its files are what the folder holds.
  const otherType = (Object.keys(TYPE_MARKERS) as TokenType[]).find(
    (candidate) => candidate !== type && listing.files.some((name) => name.includes(TYPE_MARKERS[candidate]) && name.endsWith('.npy')),
  );
  const remedy =
    otherType === undefined
      ? 'Check the folder path, or set type or glob to match the token files.'
      : `Pass type: '${otherType}' to load the ${TYPE_MARKERS[otherType]}* files, or check the folder path.`;

  return new TokenFileError(dir, `no file matches ${selection.description}; ${contents}`, remedy);
}

/** Groups file names by tokenizer marker (`vqvae_*`) or else by extension (`*.json`), largest group first. */
function countNameGroups(names: string[]): Array<[string, number]> {
  const counts = new Map<string, number>();
  for (const name of names) {
    const marker = Object.values(TYPE_MARKERS).find((candidate) => name.includes(candidate));
    const extension = path.extname(name);
    let group = name;
    if (marker !== undefined) {
      group = name.startsWith(marker) ? `${marker}*` : `*${marker}*`;
    } else if (extension !== '') {
      group = `*${extension}`;
    }
    counts.set(group, (counts.get(group) ?? 0) + 1);
  }
  return [...counts.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
}

/** Loads one file by its extension: `.npy`, or `.txt`/`.units` text units. */
async function loadFile(file: string, options: LoadOptions): Promise<Omit<LoadedParts, 'invalid'>> {
  const extension = path.extname(file).toLowerCase();
  if (TEXT_EXTENSIONS.has(extension)) {
    return readTextUnits(file, { vocabSize: options.vocabSize });
  }
  if (extension !== '.npy') {
    throw new TokenFileError(file, `unsupported file extension '${extension}'`, 'Token files must be .npy arrays, or .txt or .units text unit files.');
  }

  const name = path.basename(file);
  const result = await readTokenNpy(file, { flatten: options.flatten, vocabSize: options.vocabSize });
  if (result.status === 'skipped') {
    return { sequences: [], skipped: [{ name, reason: result.reason }] };
  }
  return { sequences: [{ name, ids: result.ids }], skipped: [] };
}

/** Like {@link loadFile}, but returns a TokenFileError instead of throwing it. */
async function loadFileOrError(file: string, options: LoadOptions): Promise<Omit<LoadedParts, 'invalid'> | TokenFileError> {
  try {
    return await loadFile(file, options);
  } catch (error) {
    if (error instanceof TokenFileError) {
      return error;
    }
    throw error;
  }
}

/** Computes the vocabulary, logs the summary and rejects a corpus without sequences. */
function assembleCorpus(source: string, parts: LoadedParts, options: LoadOptions): TokenCorpus {
  if (parts.sequences.length === 0) {
    const anyNot1d = parts.skipped.some((skip) => skip.reason === 'not 1-D');
    const remedy = anyNot1d
      ? 'Pass flatten: true to load arrays that are not 1-D as flattened sequences.'
      : 'Check that the source contains token sequences of at least 2 ids.';
    throw new TokenFileError(source, `no sequence to load: ${describeLeftOut(parts) || 'the source is empty'}`, remedy);
  }

  let maxId = 0;
  for (const sequence of parts.sequences) {
    for (const id of sequence.ids) {
      if (id > maxId) {
        maxId = id;
      }
    }
  }

  const corpus: TokenCorpus = {
    sequences: parts.sequences,
    vocabSize: options.vocabSize ?? maxId + 1,
    maxId,
    source,
    skipped: parts.skipped,
    invalid: parts.invalid,
  };
  options.log?.(summarize(corpus));
  return corpus;
}

/**
 * Formats the one-line load summary, e.g. `Loaded 2,174 sequences (359,666
 * tokens, vocab 100) from DIR; skipped 3: 2 not 1-D, 1 fewer than 2 tokens`.
 */
function summarize(corpus: TokenCorpus): string {
  const tokens = corpus.sequences.reduce((sum, sequence) => sum + sequence.ids.length, 0);
  const head = `Loaded ${plural(corpus.sequences.length, 'sequence')} (${plural(tokens, 'token')}, vocab ${corpus.vocabSize}) from ${corpus.source}`;
  const leftOut = describeLeftOut(corpus);
  return leftOut === '' ? head : `${head}; ${leftOut}`;
}

/** Describes skipped and invalid entries, e.g. `skipped 3: 2 not 1-D, 1 fewer than 2 tokens; 1 invalid: a.npy (...)`. */
function describeLeftOut(parts: Pick<LoadedParts, 'skipped' | 'invalid'>): string {
  const clauses: string[] = [];

  if (parts.skipped.length > 0) {
    const byReason = new Map<string, number>();
    for (const skip of parts.skipped) {
      byReason.set(skip.reason, (byReason.get(skip.reason) ?? 0) + 1);
    }
    const counts = [...byReason.entries()].sort((a, b) => b[1] - a[1]).map(([reason, count]) => `${count} ${reason}`);
    clauses.push(`skipped ${parts.skipped.length}: ${counts.join(', ')}`);
  }

  if (parts.invalid.length > 0) {
    const listed = parts.invalid.slice(0, MAX_INVALID_IN_SUMMARY).map((entry) => `${entry.name} (${entry.reason})`);
    const more = parts.invalid.length > MAX_INVALID_IN_SUMMARY ? ` and ${parts.invalid.length - MAX_INVALID_IN_SUMMARY} more` : '';
    clauses.push(`${parts.invalid.length} invalid: ${listed.join(', ')}${more}`);
  }

  return clauses.join('; ');
}

/** Formats a count with thousands separators and a plural noun: `1 file`, `2,174 files`. */
function plural(count: number, noun: string): string {
  return `${count.toLocaleString('en-US')} ${noun}${count === 1 ? '' : 's'}`;
}
