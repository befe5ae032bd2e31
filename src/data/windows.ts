/**
 * Next-token training windows over token sequences, and batches built from
 * them without a tensor per window.
 *
 * A window starting at t has inputs t … t+L−1 and targets t+1 … t+L.
 */
import type { BatchInput } from '../model/engine.js';
import type { Rng } from '../random.js';

/** Window settings: length, stride, treatment of short sequences and offsets. */
export interface WindowOptions {
  /** Window length L in tokens. Default 64. */
  seqLen: number;
  /** Distance between window starts, in tokens. Default 4. */
  stride: number;
  /**
   * `'pad'` (default) keeps sequences of 2 … L tokens as one padded window
   * whose padding carries no loss, and adds a padded window for each
   * sequence's tail. `'drop-short'` keeps only full windows and drops every
   * sequence of at most L tokens, the rule of the original PyTorch recipe.
   */
  mode: 'pad' | 'drop-short';
  /**
   * Draws each sequence's first start uniformly in [0, stride) instead of 0,
   * so that with stride = L successive epochs cut different windows. The
   * targets before that start are skipped in that epoch. Needs an `rng` when
   * building. Default false.
   */
  randomOffset: boolean;
  /**
   * Window starts are multiples of this many tokens from the recording's
   * start, so every window position keeps one phase relative to it. The
   * random offset is drawn on this grid too. In pad mode the tail window
   * starts at the last grid point that still gives a full window, so up to
   * align − 1 final targets go unscored, as with windows cut every 4 tokens
   * by the original recipe. Must divide the stride. Default 1: no alignment.
   */
  align?: number;
  /**
   * In pad mode, adds a window for each long sequence's tail, ending at (or,
   * with align, just before) its last token. Default true. Without it, the
   * targets after the last full window wait for an epoch whose random offset
   * covers them. Every epoch then draws its windows from the set of windows
   * cut every `align` tokens, which is the set the stride-4 window metric
   * scores when align is 4.
   */
  tail?: boolean;
}

/** Defaults of {@link WindowOptions}. */
export const DEFAULT_WINDOW_OPTIONS: WindowOptions = { seqLen: 64, stride: 4, mode: 'pad', randomOffset: false };

/** Windows as parallel arrays: sequence index, start and number of scored targets. */
export interface WindowSet {
  /** Index of each window's sequence. */
  seqIndex: Int32Array;
  /** Position in its sequence of each window's first input token. */
  start: Int32Array;
  /** Targets that carry loss: L for a full window, fewer for a padded one. */
  length: Int32Array;
  /** Number of windows. */
  count: number;
  /** Window length L in tokens. */
  seqLen: number;
}

/**
 * Builds the windows of a set of sequences.
 *
 * @throws {Error} when seqLen or stride is not a positive integer, or when no
 *   window can be formed (naming the sequence count and the rule).
 */
export function buildWindows(sequences: ArrayLike<number>[], options: Partial<WindowOptions> = {}, rng?: Rng): WindowSet {
  const { seqLen: L, stride, mode, randomOffset, align = 1, tail = true } = { ...DEFAULT_WINDOW_OPTIONS, ...options };
  if (!Number.isInteger(L) || L < 1) throw new Error(`seqLen must be a positive integer, received ${L}.`);
  if (!Number.isInteger(stride) || stride < 1) throw new Error(`stride must be a positive integer, received ${stride}.`);
  if (!Number.isInteger(align) || align < 1 || stride % align !== 0) {
    throw new Error(`align must be a positive integer that divides the stride ${stride}, received ${align}.`);
  }
  if (randomOffset && rng === undefined) throw new Error('buildWindows needs an rng when randomOffset is true.');

  const seqIndex: number[] = [];
  const start: number[] = [];
  const length: number[] = [];
  const push = (s: number, t: number, targets: number): void => {
    seqIndex.push(s);
    start.push(t);
    length.push(targets);
  };

  for (let s = 0; s < sequences.length; s++) {
    const n = sequences[s].length;
    if (n <= L) {
      if (mode === 'pad' && n >= 2) push(s, 0, n - 1);
      continue;
    }
    const lastFullStart = n - (L + 1);
    const offsets = Math.floor((Math.min(stride, lastFullStart + 1) - 1) / align) + 1;
    const first = randomOffset ? align * rng!.int(offsets) : 0;
    let t = first;
    for (; t <= lastFullStart; t += stride) push(s, t, L);

    // In pad mode the tokens after the last full window still get scored:
    // a final window ends exactly at the sequence's last token. The targets
    // before a random offset are left to the epochs with other offsets. A
    // window for them would start at the recording's first token in every
    // epoch, which over-represents recording onsets at window position 0.
    if (mode === 'pad' && tail) {
      const covered = t - stride + L + 1;
      const tailStart = lastFullStart - (lastFullStart % align);
      if (covered < n && tailStart > t - stride) push(s, tailStart, L);
    }
  }

  if (seqIndex.length === 0) {
    throw new Error(
      `No training windows could be formed from ${sequences.length} sequences with seqLen ${L} in ${mode} mode; ` +
        (mode === 'drop-short' ? 'every sequence has at most seqLen tokens: use a shorter seqLen or the pad mode.' : 'every sequence has fewer than 2 tokens.'),
    );
  }
  return {
    seqIndex: Int32Array.from(seqIndex),
    start: Int32Array.from(start),
    length: Int32Array.from(length),
    count: seqIndex.length,
    seqLen: L,
  };
}

/** Returns the total number of scored targets of a window set. */
export function countTargets(windows: WindowSet): number {
  let total = 0;
  for (let i = 0; i < windows.count; i++) total += windows.length[i];
  return total;
}

/** Returns window indices 0 … count−1, shuffled when an rng is given. */
export function windowOrder(count: number, rng?: Rng): Int32Array {
  const order = new Int32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (rng !== undefined) rng.shuffle(order);
  return order;
}

/**
 * Fills a batch with the windows `order[from … from+rows−1]`. Positions past
 * a window's scored targets get input 0 and target −1 (no loss).
 *
 * Because the model is causal and padding sits after the real tokens, no
 * real position ever attends to padding, so no attention mask is needed.
 */
export function fillBatch(sequences: ArrayLike<number>[], windows: WindowSet, order: Int32Array, from: number, rows: number): BatchInput {
  const L = windows.seqLen;
  const inputs = new Int32Array(rows * L);
  const targets = new Int32Array(rows * L).fill(-1);
  for (let r = 0; r < rows; r++) {
    const w = order[from + r];
    const seq = sequences[windows.seqIndex[w]];
    const t0 = windows.start[w];
    const scored = windows.length[w];
    const base = r * L;
    for (let i = 0; i < scored; i++) {
      inputs[base + i] = seq[t0 + i];
      targets[base + i] = seq[t0 + i + 1];
    }
  }
  return { inputs, targets, batchSize: rows, seqLen: L };
}
