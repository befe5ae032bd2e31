/**
 * Sequence-level train/validation split, identical to the one the reference
 * experiments make in Python:
 *
 * ```python
 * idx = list(range(n))
 * np.random.default_rng(seed).shuffle(idx)
 * num_val = max(1, int(n * val_fraction))
 * train, val = idx[:n - num_val], idx[n - num_val:]
 * ```
 *
 * Whole recordings go to one side, so no validation token has been seen in
 * training as part of an overlapping window.
 */

import { numpyShuffledRange } from './numpyRandom.js';

/** Options of {@link splitSequences}. */
export interface SplitOptions {
  /** Fraction of the sequences held out for validation, in (0, 1). Default 0.1. */
  valFraction?: number;
  /** Non-negative integer seed of NumPy's `default_rng`. Default 42, the seed of the reference experiments. */
  seed?: number;
}

/** Indices of the training and validation sequences, with the settings that produced them. */
export interface SequenceSplit {
  /** Indices into the sequence list, in shuffled order. */
  trainIndices: number[];
  /** Indices into the sequence list, in shuffled order; never empty. */
  valIndices: number[];
  /** Seed used for the shuffle. */
  seed: number;
  /** Validation fraction requested. */
  valFraction: number;
}

/** Default validation fraction of {@link splitSequences}. */
export const DEFAULT_VAL_FRACTION = 0.1;

/** Default shuffle seed of {@link splitSequences}. */
export const DEFAULT_SPLIT_SEED = 42;

/**
 * Splits `count` sequences into training and validation indices by the
 * reference rule: shuffle `0 … count-1` with NumPy's `default_rng(seed)`,
 * then the last `max(1, floor(count * valFraction))` shuffled indices are
 * the validation set and the rest, in shuffled order, the training set.
 *
 * @param count - number of sequences, at least 2 so both sides are non-empty.
 * @param options - validation fraction and seed; see {@link SplitOptions}.
 * @returns the two index lists and the settings used.
 * @throws if `count` is not an integer ≥ 2, the fraction is not in (0, 1), the
 *   seed is not a non-negative integer, or the fraction leaves no training sequence.
 * @example
 * const split = splitSequences(2174); // 1957 train, 217 val, as the reference experiments
 */
export function splitSequences(count: number, options: SplitOptions = {}): SequenceSplit {
  const valFraction = options.valFraction ?? DEFAULT_VAL_FRACTION;
  const seed = options.seed ?? DEFAULT_SPLIT_SEED;

  if (!Number.isSafeInteger(count) || count < 2) {
    throw new Error(`splitSequences needs at least 2 sequences to fill both a training and a validation set, received count ${count}.`);
  }
  if (!Number.isFinite(valFraction) || valFraction <= 0 || valFraction >= 1) {
    throw new Error(`valFraction must be a number strictly between 0 and 1, received ${valFraction}.`);
  }
  if (!Number.isSafeInteger(seed) || seed < 0) {
    throw new Error(`The split seed must be a non-negative integer, received ${seed}.`);
  }

  // Math.trunc of the same double product is Python's int(n * f).
  const valCount = Math.max(1, Math.trunc(count * valFraction));
  const trainCount = count - valCount;
  if (trainCount < 1) {
    throw new Error(
      `valFraction ${valFraction} puts all ${count} sequences in the validation set. Use a smaller valFraction.`,
    );
  }

  const shuffled = numpyShuffledRange(count, seed);
  return {
    trainIndices: shuffled.slice(0, trainCount),
    valIndices: shuffled.slice(trainCount),
    seed,
    valFraction,
  };
}
