/**
 * Token ids from text unit files, the format GSLM-style tools write.
 *
 * Each non-blank line is one sequence of space-separated non-negative integer
 * ids, optionally preceded by a name and a bar: `p225_001|71 71 12 63`.
 */

import * as path from 'node:path';

import { MAX_TOKEN_ID, TokenFileError, assertValidVocabSize, readInputFile } from './errors.js';
import type { LoadSkip, TokenSequence } from './load.js';

/** Options of {@link parseTextUnits} and {@link readTextUnits}. */
export interface TextUnitOptions {
  /** Number of ids in the vocabulary; an id at or above it is an error. Default: no upper bound but int32. */
  vocabSize?: number;
}

/** Sequences of one text unit file, and the lines skipped for having fewer than 2 ids. */
export interface TextUnitContents {
  /** Sequences with at least 2 ids, in line order. */
  sequences: TokenSequence[];
  /** Lines with fewer than 2 ids, in line order. */
  skipped: LoadSkip[];
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });
const FIX_TOKEN = 'Each line must be an optional "name|" followed by non-negative integer ids separated by spaces.';

/**
 * Parses a text unit file.
 *
 * Blank lines are ignored, and `\n`, `\r\n` and `\r` all end a line. A
 * sequence is named by its prefix before the first `|`, or, without a prefix
 * (or with an empty one), `<file basename>:<line number>`. Lines with fewer
 * than 2 ids are listed in `skipped` with the reason "fewer than 2 tokens".
 *
 * @param content - the file's text, or its bytes, which must be UTF-8.
 * @param file - path used in names and error messages.
 * @param options - the vocabulary size; see {@link TextUnitOptions}.
 * @returns the sequences and skipped lines, in line order.
 * @throws TokenFileError naming the file and line when the bytes are not
 *   UTF-8, a token is not a non-negative integer below 2^31 (token named),
 *   an id is at or above `vocabSize`, or two lines have the same name.
 * @throws RangeError when `options.vocabSize` is not an integer in [1, 2^31].
 */
export function parseTextUnits(content: string | Uint8Array, file: string, options: TextUnitOptions = {}): TextUnitContents {
  if (options.vocabSize !== undefined) {
    assertValidVocabSize(options.vocabSize);
  }

  const text = typeof content === 'string' ? content.replace(/^\uFEFF/, '') : decodeText(content, file);
  const lines = text.split(/\r\n|\n|\r/);
  const baseName = path.basename(file);
  const lineOfName = new Map<string, number>();
  const sequences: TokenSequence[] = [];
  const skipped: LoadSkip[] = [];

  for (let index = 0; index < lines.length; index++) {
    const line = lines[index];
    const lineNumber = index + 1;
    if (line.trim() === '') {
      continue;
    }

    const bar = line.indexOf('|');
    const prefix = bar === -1 ? '' : line.slice(0, bar).trim();
    const name = prefix === '' ? `${baseName}:${lineNumber}` : prefix;
    const earlierLine = lineOfName.get(name);
    if (earlierLine !== undefined) {
      throw new TokenFileError(file, `duplicate sequence name "${name}", first used on line ${earlierLine}`, 'Give every line a unique name.', { line: lineNumber });
    }
    lineOfName.set(name, lineNumber);

    const ids = parseIdList(bar === -1 ? line : line.slice(bar + 1), file, lineNumber, options.vocabSize);
    if (ids.length < 2) {
      skipped.push({ name, reason: 'fewer than 2 tokens' });
    } else {
      sequences.push({ name, ids });
    }
  }

  return { sequences, skipped };
}

/** Decodes UTF-8 bytes; TextDecoder drops a leading byte order mark. */
function decodeText(bytes: Uint8Array, file: string): string {
  try {
    return UTF8.decode(bytes);
  } catch (error) {
    throw new TokenFileError(file, 'the file is not valid UTF-8 text', 'Pass a text unit file, or a .npy file written by numpy.save.', { cause: error });
  }
}

/** Parses the space-separated ids of one line. */
function parseIdList(field: string, file: string, line: number, vocabSize: number | undefined): Int32Array {
  const trimmed = field.trim();
  const tokens = trimmed === '' ? [] : trimmed.split(/\s+/);
  const ids = new Int32Array(tokens.length);

  for (let position = 0; position < tokens.length; position++) {
    const token = tokens[position];
    const shown = JSON.stringify(token.length > 40 ? `${token.slice(0, 40)}...` : token);
    if (/^-\d+$/.test(token)) {
      throw new TokenFileError(file, `negative token id ${token} (token ${position + 1} of the line)`, FIX_TOKEN, { line });
    }
    if (!/^\d+$/.test(token)) {
      throw new TokenFileError(file, `invalid token ${shown} (token ${position + 1} of the line) is not a non-negative integer`, FIX_TOKEN, { line });
    }

    const id = Number(token);
    if (id > MAX_TOKEN_ID) {
      throw new TokenFileError(file, `token id ${shown} does not fit in int32 (maximum ${MAX_TOKEN_ID})`, 'Token ids must be below 2^31; check the tokenizer output that produced this file.', { line });
    }
    if (vocabSize !== undefined && id >= vocabSize) {
      throw new TokenFileError(
        file,
        `token id ${id} (token ${position + 1} of the line) is outside the vocabulary of size ${vocabSize} (ids 0 to ${vocabSize - 1})`,
        'Pass the vocabulary size the tokenizer used, or leave vocabSize unset to derive it from the data.',
        { line },
      );
    }
    ids[position] = id;
  }

  return ids;
}

/**
 * Reads and parses a text unit file (see {@link parseTextUnits}).
 *
 * @param file - path of the `.txt` or `.units` file.
 * @param options - the vocabulary size; see {@link TextUnitOptions}.
 * @returns the sequences and skipped lines, in line order.
 * @throws TokenFileError naming the file when it cannot be read or parsed.
 * @throws RangeError when `options.vocabSize` is not an integer in [1, 2^31].
 */
export async function readTextUnits(file: string, options: TextUnitOptions = {}): Promise<TextUnitContents> {
  const bytes = await readInputFile(file);
  return parseTextUnits(bytes, file, options);
}
