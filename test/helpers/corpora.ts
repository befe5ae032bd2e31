import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * Folder of the real token corpora used by the tests: the environment
 * variable ACOUSTIC_LM_CORPORA, or ../shared/corpora beside the checkout.
 */
export const CORPORA_DIR = process.env.ACOUSTIC_LM_CORPORA ?? path.resolve(__dirname, '..', '..', '..', 'shared', 'corpora');

/** Returns the path of a file or folder inside the corpora, failing loudly when it is missing. */
export function corpusPath(...parts: string[]): string {
  const target = path.join(CORPORA_DIR, ...parts);
  if (!fs.existsSync(target)) {
    throw new Error(`Test corpus not found: ${target}. Set ACOUSTIC_LM_CORPORA to the folder that holds the test corpora.`);
  }
  return target;
}
