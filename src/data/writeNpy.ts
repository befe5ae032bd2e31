/**
 * Writing token sequences as `.npy` files that NumPy and this project's
 * loader both read.
 */

import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import * as path from 'node:path';

import { dump } from 'npyjs';

import { assertValidVocabSize } from './errors.js';

/** Largest vocabulary whose ids (0 to 32767) fit in int16. */
const INT16_VOCAB_LIMIT = 32768;

/**
 * Encodes token ids as a 1-D little-endian `.npy` array (format version 1.0):
 * int16 when `vocabSize` is at most 32768, else int32.
 *
 * @param ids - token ids, each an integer in [0, vocabSize).
 * @param vocabSize - number of ids in the vocabulary, an integer in [1, 2^31]; it picks the dtype.
 * @returns the file contents.
 * @throws RangeError naming the index and value of the first id that is not
 *   an integer in [0, vocabSize), or when `vocabSize` is invalid.
 *
 * @example
 * const bytes = encodeTokensNpy([3, 1, 4, 1], 100); // dtype '<i2', shape (4,)
 */
export function encodeTokensNpy(ids: ArrayLike<number>, vocabSize: number): ArrayBuffer {
  assertValidVocabSize(vocabSize);
  for (let index = 0; index < ids.length; index++) {
    const id = ids[index];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(`Token id ${id} at index ${index} is not an integer in [0, ${vocabSize}); fix the ids or pass the vocabulary size they come from.`);
    }
  }

  const values = vocabSize <= INT16_VOCAB_LIMIT ? Int16Array.from(ids) : Int32Array.from(ids);
  // NOTE: npyjs 1.2 writes the host's byte order, so the output is
  // little-endian on little-endian hosts (x86-64, arm64) only.
  return dump(values, [values.length]);
}

/**
 * Writes token ids to a `.npy` file atomically: the bytes go to a temporary
 * file in the same folder, are flushed to disk, and the file is renamed over
 * `file`. Readers see the old file or the complete new one, never a part.
 *
 * @param file - destination path; its folder must exist.
 * @param ids - token ids, each an integer in [0, vocabSize).
 * @param vocabSize - number of ids in the vocabulary; int16 is used up to 32768, else int32.
 * @throws RangeError for an invalid id or `vocabSize` (nothing is written).
 * @throws Error from node:fs when the folder is missing or not writable; the temporary file is removed.
 */
export async function writeTokensNpy(file: string, ids: ArrayLike<number>, vocabSize: number): Promise<void> {
  const bytes = new Uint8Array(encodeTokensNpy(ids, vocabSize));
  const temporary = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);

  let renamed = false;
  try {
    const handle = await open(temporary, 'wx');
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }

    // NOTE: the folder itself is not fsynced, so after a power failure the
    // rename may be lost, though the file is never left half-written.
    await rename(temporary, file);
    renamed = true;
  } finally {
    if (!renamed) {
      await rm(temporary, { force: true });
    }
  }
}
