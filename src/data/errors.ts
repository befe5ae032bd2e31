/**
 * The error type of the token loaders, and the checks and file reads they share.
 */

import { readFile } from 'node:fs/promises';

/** Optional details of a {@link TokenFileError}. */
export interface TokenFileErrorOptions {
  /** 1-based line number in a text unit file, when the problem sits on one line. */
  line?: number;
  /** The lower-level error that caused this one, such as a failed read. */
  cause?: unknown;
}

/**
 * Error thrown by every token loader for input it cannot use. Causes include
 * a missing or unreadable path, a file that is not `.npy` or is truncated, a
 * dtype that is not an integer type, and a negative or out-of-vocabulary id.
 *
 * The message has the form `PATH[:LINE]: REASON. REMEDY`, so it always names the
 * file (or folder) and the offending dtype or value, and ends with a fix.
 *
 * @example
 * try {
 *   await loadTokens('tokens/');
 * } catch (error) {
 *   if (error instanceof TokenFileError) console.error(error.file, error.reason);
 * }
 */
export class TokenFileError extends Error {
  /** Error name, always `'TokenFileError'`. */
  override readonly name = 'TokenFileError';

  /** Path of the rejected file or folder, as the loader received it. */
  readonly file: string;

  /** Description of the problem without the path or the remedy, e.g. "dtype float32 ('<f4') is not an integer type". */
  readonly reason: string;

  /** 1-based line number in a text unit file, or undefined for binary files and folders. */
  readonly line: number | undefined;

  /**
   * @param file - path of the file or folder that failed.
   * @param reason - what is wrong, naming the dtype or value; no trailing period.
   * @param remedy - one or two full sentences on how to fix the input.
   * @param options - line number and cause, both optional.
   */
  constructor(file: string, reason: string, remedy: string, options: TokenFileErrorOptions = {}) {
    const location = options.line === undefined ? file : `${file}:${options.line}`;
    super(`${location}: ${reason}. ${remedy}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.file = file;
    this.reason = reason;
    this.line = options.line;
  }
}

/** Largest id an `Int32Array` can hold; the loaders reject anything above it. */
export const MAX_TOKEN_ID = 2 ** 31 - 1;

/**
 * Checks a vocabulary size given as an option.
 *
 * @param vocabSize - number of distinct ids; must be an integer in [1, 2^31].
 * @param option - name of the option, for the message.
 * @throws RangeError when the value is not such an integer.
 */
export function assertValidVocabSize(vocabSize: number, option = 'vocabSize'): void {
  if (!Number.isInteger(vocabSize) || vocabSize < 1 || vocabSize > MAX_TOKEN_ID + 1) {
    throw new RangeError(`${option} must be an integer from 1 to 2^31, received ${vocabSize}.`);
  }
}

/**
 * Reads a whole file for one of the token parsers.
 *
 * @param file - path of the file.
 * @returns the file's bytes.
 * @throws TokenFileError naming the file when it is missing, a folder or unreadable.
 */
export async function readInputFile(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    throw new TokenFileError(file, describeReadFailure(error), 'Check the path and the file permissions.', { cause: error });
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
