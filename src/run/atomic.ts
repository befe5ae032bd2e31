/**
 * Atomic file writes: readers see either the old file or the complete new
 * one, never a partly written file, even when the process is killed or the
 * machine loses power half-way.
 *
 * Each write goes to a temporary file in the target's folder (so the final
 * rename stays on one file system), is flushed with fsync, and is renamed
 * over the target. The folder is then flushed too, so the rename itself
 * survives a power loss. POSIX guarantees that rename replaces the target
 * atomically.
 */

import * as fs from 'node:fs';
import * as fsp from 'node:fs/promises';
import * as path from 'node:path';

/** Contents accepted by the atomic writers; strings are written as UTF-8. */
export type FileContents = string | ArrayBufferView;

/** Suffix of every temporary file, so that leftovers are easy to recognise. */
export const TEMPORARY_SUFFIX = '.tmp';

let temporaryCounter = 0;

/**
 * Returns a temporary path next to `file`, unique within this process:
 * `.<name>.<pid>.<counter>.tmp`. The leading dot hides it from plain `ls`.
 */
export function temporaryPathFor(file: string): string {
  temporaryCounter += 1;
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${temporaryCounter}${TEMPORARY_SUFFIX}`);
}

/** Returns the bytes of `data` without copying typed-array contents. */
function toBytes(data: FileContents): Uint8Array {
  if (typeof data === 'string') {
    return Buffer.from(data, 'utf8');
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * Flushes a folder's entries (new names, renames) to disk. Best effort:
 * some platforms (Windows) and file systems cannot open or fsync a folder,
 * and there the rename is still atomic, only its durability is weaker.
 *
 * @param dir - the folder to flush.
 */
export function fsyncDirectorySync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // Best effort, see above.
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}

/** Asynchronous {@link fsyncDirectorySync}. */
export async function fsyncDirectory(dir: string): Promise<void> {
  let handle: fsp.FileHandle | undefined;
  try {
    handle = await fsp.open(dir, 'r');
    await handle.sync();
  } catch {
    // Best effort, as in fsyncDirectorySync.
  } finally {
    await handle?.close();
  }
}

/**
 * Writes `data` to a new temporary file beside `file` and flushes it to disk.
 * This is the first stage of {@link writeFileAtomicSync}; until
 * {@link commitTemporaryFileSync} renames it, the target is untouched.
 *
 * @param file - the final destination; its folder must exist.
 * @param data - the contents.
 * @returns the path of the temporary file.
 * @throws Error from node:fs when the folder is missing or not writable; the
 *   temporary file is removed first.
 */
export function writeTemporaryFileSync(file: string, data: FileContents): string {
  const bytes = toBytes(data);
  const temporary = temporaryPathFor(file);

  // 'wx' fails if a file of the same name exists, such as a leftover from a
  // killed process that had the same pid, instead of writing into it.
  const fd = fs.openSync(temporary, 'wx');
  try {
    let written = 0;
    while (written < bytes.length) {
      written += fs.writeSync(fd, bytes, written, bytes.length - written);
    }
    fs.fsyncSync(fd);
  } catch (error) {
    fs.closeSync(fd);
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  fs.closeSync(fd);
  return temporary;
}

/**
 * Renames a temporary file from {@link writeTemporaryFileSync} over `file`
 * and flushes the folder. This is the second stage of
 * {@link writeFileAtomicSync}.
 *
 * @param temporary - path returned by {@link writeTemporaryFileSync}.
 * @param file - the final destination.
 * @throws Error from node:fs when the rename fails; the temporary file is
 *   removed and `file` keeps its old contents.
 */
export function commitTemporaryFileSync(temporary: string, file: string): void {
  try {
    fs.renameSync(temporary, file);
  } catch (error) {
    fs.rmSync(temporary, { force: true });
    throw error;
  }
  fsyncDirectorySync(path.dirname(file));
}

/**
 * Replaces `file` atomically with `data`. Synchronous, so a signal handler
 * can call it before the process exits.
 *
 * @param file - the destination; its folder must exist.
 * @param data - the contents; strings are written as UTF-8.
 * @throws Error from node:fs when the folder is missing or not writable or
 *   the rename fails. No temporary file is left behind, and `file` keeps its
 *   old contents.
 *
 * @example
 * writeFileAtomicSync('runs/a/metrics.csv', 'epoch,loss\n1,2.5\n');
 */
export function writeFileAtomicSync(file: string, data: FileContents): void {
  const temporary = writeTemporaryFileSync(file, data);
  commitTemporaryFileSync(temporary, file);
}

/**
 * Asynchronous {@link writeFileAtomicSync}: same stages, same guarantees.
 *
 * @param file - the destination; its folder must exist.
 * @param data - the contents; strings are written as UTF-8.
 * @throws Error from node:fs when the folder is missing or not writable or
 *   the rename fails. No temporary file is left behind, and `file` keeps its
 *   old contents.
 */
export async function writeFileAtomic(file: string, data: FileContents): Promise<void> {
  const bytes = toBytes(data);
  const temporary = temporaryPathFor(file);

  const handle = await fsp.open(temporary, 'wx');
  try {
    let written = 0;
    while (written < bytes.length) {
      const result = await handle.write(bytes, written, bytes.length - written);
      written += result.bytesWritten;
    }
    await handle.sync();
    await handle.close();
    await fsp.rename(temporary, file);
  } catch (error) {
    await handle.close().catch(() => undefined);
    await fsp.rm(temporary, { force: true });
    throw error;
  }
  await fsyncDirectory(path.dirname(file));
}

/**
 * Formats a value as pretty-printed JSON (two-space indent) with a trailing
 * newline. As with `JSON.stringify`, NaN and ±Infinity become null.
 *
 * @param value - any JSON-serialisable value.
 * @throws TypeError from `JSON.stringify` for cycles or BigInt values.
 */
export function formatJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

/**
 * Replaces `file` atomically with `value` as pretty-printed JSON followed by a
 * newline (see {@link formatJson}).
 *
 * @param file - the destination; its folder must exist.
 * @param value - any JSON-serialisable value.
 * @throws TypeError for values JSON cannot hold (cycles, BigInt); Error from
 *   node:fs as in {@link writeFileAtomicSync}.
 */
export function writeJsonAtomicSync(file: string, value: unknown): void {
  writeFileAtomicSync(file, formatJson(value));
}

/** Asynchronous {@link writeJsonAtomicSync}. */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, formatJson(value));
}
