/**
 * Sampling rules that turn one row of next-token logits into one token id.
 *
 * The decoder calls {@link sampleNext} once per step and per sequence with a
 * row of logits read back from the backend. Everything here is plain
 * JavaScript on typed arrays, computed in float64, so the rules can be tested
 * exactly and run the same on every TensorFlow.js backend.
 *
 * Each step applies, in order: repetition penalty, temperature, top-k,
 * top-p, then one inverse-CDF draw.
 */

import type { Rng } from '../random.js';

/** Options of the sampling rules. Every field is optional and off by default except temperature 1. */
export interface SamplingOptions {
  /**
   * Divisor of the logits before the softmax. Default 1. Values below 1
   * sharpen the distribution and values above 1 flatten it. 0 selects greedy
   * decoding (argmax, lowest token id on ties). Must be finite and >= 0.
   */
  temperature?: number;
  /**
   * Number of most likely tokens kept before the draw. Default 0 (off).
   * 0 or any value >= the vocabulary size keeps every token. Must be an integer >= 0.
   */
  topK?: number;
  /**
   * Nucleus threshold in [0, 1]. Default 1 (off). Keeps the smallest set of
   * most likely tokens whose probability reaches p, which always includes the
   * most likely token, so p = 0 behaves like greedy decoding.
   */
  topP?: number;
  /**
   * CTRL-style repetition penalty, > 0. Default 1 (off).
   * A token seen in the last `penaltyWindow` tokens of the history has a
   * positive logit divided by the penalty and a negative logit multiplied by
   * it, once per distinct token.
   */
  repetitionPenalty?: number;
  /** Number of most recent history tokens the repetition penalty looks at. Default 64. Must be an integer >= 0. */
  penaltyWindow?: number;
}

/** Defaults of {@link SamplingOptions}: plain ancestral sampling at temperature 1. */
export const DEFAULT_SAMPLING_OPTIONS: Readonly<Required<SamplingOptions>> = Object.freeze({
  temperature: 1,
  topK: 0,
  topP: 1,
  repetitionPenalty: 1,
  penaltyWindow: 64,
});

/**
 * Slack on the nucleus threshold. A cumulative probability within this
 * distance of p counts as reaching it, so that p set to an exact partial sum
 * (0.75 for probabilities 0.5, 0.25, ...) is not defeated by float rounding.
 */
const NUCLEUS_TOLERANCE = 1e-9;

/**
 * Fills in the defaults of `options` and checks every value against `vocabSize`.
 *
 * @param options - sampling options as given by the caller; missing fields take
 *   the values of {@link DEFAULT_SAMPLING_OPTIONS}.
 * @param vocabSize - number of token ids the model predicts, a positive integer.
 * @returns a new object with every field set.
 * @throws Error naming the option and the rejected value when a value is out of
 *   range, not finite or not an integer where one is required.
 *
 * @example
 * const options = validateSamplingOptions({ temperature: 0.8, topK: 50 }, 100);
 */
export function validateSamplingOptions(options: SamplingOptions, vocabSize: number): Required<SamplingOptions> {
  const filled: Required<SamplingOptions> = {
    temperature: options.temperature ?? DEFAULT_SAMPLING_OPTIONS.temperature,
    topK: options.topK ?? DEFAULT_SAMPLING_OPTIONS.topK,
    topP: options.topP ?? DEFAULT_SAMPLING_OPTIONS.topP,
    repetitionPenalty: options.repetitionPenalty ?? DEFAULT_SAMPLING_OPTIONS.repetitionPenalty,
    penaltyWindow: options.penaltyWindow ?? DEFAULT_SAMPLING_OPTIONS.penaltyWindow,
  };
  checkOptions(filled, vocabSize);
  return filled;
}

/** Throws on the first invalid option without allocating, so it can run on every step. */
function checkOptions(options: Required<SamplingOptions>, vocabSize: number): void {
  if (!Number.isInteger(vocabSize) || vocabSize < 1) {
    throw new Error(`Invalid vocabulary size ${vocabSize}: expected a positive integer (the length of a logits row).`);
  }

  const { temperature, topK, topP, repetitionPenalty, penaltyWindow } = options;
  if (typeof temperature !== 'number' || !Number.isFinite(temperature) || temperature < 0) {
    throw new Error(`Invalid temperature ${temperature}: expected a finite number >= 0 (0 selects greedy decoding).`);
  }
  if (typeof topK !== 'number' || !Number.isInteger(topK) || topK < 0) {
    throw new Error(`Invalid topK ${topK}: expected an integer >= 0 (0 turns top-k off).`);
  }
  if (typeof topP !== 'number' || !(topP >= 0 && topP <= 1)) {
    throw new Error(`Invalid topP ${topP}: expected a number in [0, 1] (1 turns top-p off).`);
  }
  if (typeof repetitionPenalty !== 'number' || !Number.isFinite(repetitionPenalty) || repetitionPenalty <= 0) {
    throw new Error(`Invalid repetitionPenalty ${repetitionPenalty}: expected a finite number > 0 (1 turns the penalty off).`);
  }
  if (typeof penaltyWindow !== 'number' || !Number.isInteger(penaltyWindow) || penaltyWindow < 0) {
    throw new Error(`Invalid penaltyWindow ${penaltyWindow}: expected an integer >= 0 (the number of recent tokens penalised).`);
  }
}

/**
 * Work buffers reused across calls, because the decoder samples thousands of
 * steps and each call would otherwise allocate several vocabulary-sized
 * arrays. Every function here is synchronous, so two calls never share them
 * at the same time.
 */
const scratch = {
  scores: new Float64Array(0),
  sorted: new Float64Array(0),
  seen: new Uint8Array(0),
  probabilities: new Float64Array(0),
};

function ensureScratch(vocabSize: number): void {
  if (scratch.scores.length < vocabSize) {
    scratch.scores = new Float64Array(vocabSize);
    scratch.sorted = new Float64Array(vocabSize);
    scratch.seen = new Uint8Array(vocabSize);
    scratch.probabilities = new Float64Array(vocabSize);
  }
}

function describeStep(step: number | undefined): string {
  return step === undefined ? 'an unnumbered step' : `step ${step}`;
}

/**
 * Computes the probability vector that {@link sampleNext} draws from, after
 * repetition penalty, temperature, top-k and top-p.
 *
 * Tokens removed by top-k or top-p, and tokens whose logit is -Infinity, get
 * probability exactly 0. The kept tokens are renormalised to sum to 1.
 * Ties are broken by token id: when several tokens share the k-th largest
 * value, the lower ids are kept so that exactly k tokens survive, and the same
 * order decides which tokens enter the nucleus first. Greedy decoding
 * (temperature 0) returns a one-hot vector on the argmax, lowest id on ties.
 *
 * @param logits - one row of next-token logits, one entry per token id.
 *   Entries may be -Infinity but not NaN or +Infinity.
 * @param history - token ids already in the sequence, oldest first. Only the
 *   last `options.penaltyWindow` entries are read, and only when the
 *   repetition penalty is not 1.
 * @param options - validated options, see {@link validateSamplingOptions}.
 * @param step - decoding step, used only to locate errors.
 * @param out - optional buffer of length `logits.length` that receives the
 *   result. A new array is allocated when it is omitted.
 * @returns the probability vector, `out` when it was given.
 * @throws Error when a logit is NaN or +Infinity, when every logit is
 *   -Infinity, when a history token in the window is not a valid token id, when
 *   an option is invalid or when `out` has the wrong length.
 */
export function processLogits(
  logits: Float32Array,
  history: ArrayLike<number>,
  options: Required<SamplingOptions>,
  step?: number,
  out?: Float64Array,
): Float64Array {
  const vocabSize = logits.length;
  checkOptions(options, vocabSize);
  if (out !== undefined && out.length !== vocabSize) {
    throw new Error(`Output buffer has length ${out.length} but the logits row has ${vocabSize} entries; pass a buffer of the same length.`);
  }
  const probabilities = out ?? new Float64Array(vocabSize);
  ensureScratch(vocabSize);
  const scores = scratch.scores;

  copyCheckedLogits(logits, scores, step);
  applyRepetitionPenalty(scores, vocabSize, history, options, step);

  if (options.temperature === 0) {
    probabilities.fill(0);
    probabilities[argmax(scores, vocabSize)] = 1;
    return probabilities;
  }

  scaleByTemperature(scores, vocabSize, options.temperature);
  const keptCount = countCandidates(scores, vocabSize, options);
  writeProbabilities(scores, keptCount, vocabSize, probabilities);
  return probabilities;
}

/**
 * Draws the next token id from one row of logits.
 *
 * Applies {@link processLogits}, then inverts the cumulative distribution at
 * one `rng.uniform()` draw. Exactly one uniform is drawn per call, greedy
 * decoding included, so a seed fixes the whole token sequence and changing the
 * options of one sequence does not shift the random stream of the others.
 *
 * @param logits - one row of next-token logits, one entry per token id.
 * @param history - token ids already in the sequence, oldest first.
 * @param options - validated options, see {@link validateSamplingOptions}.
 * @param rng - generator that supplies the draw.
 * @param step - decoding step, used only to locate errors.
 * @returns a token id in [0, logits.length) whose probability is above 0.
 * @throws Error in the cases listed for {@link processLogits}.
 *
 * @example
 * const options = validateSamplingOptions({ topK: 20 }, logits.length);
 * const next = sampleNext(logits, tokens, options, new Rng(1), tokens.length);
 */
export function sampleNext(logits: Float32Array, history: ArrayLike<number>, options: Required<SamplingOptions>, rng: Rng, step?: number): number {
  const vocabSize = logits.length;
  ensureScratch(vocabSize);
  const probabilities = processLogits(logits, history, options, step, scratch.probabilities.subarray(0, vocabSize));
  return drawFromDistribution(probabilities, rng.uniform());
}

/**
 * Returns the token at which the cumulative distribution first exceeds `u`.
 * Walking in token order with a strict comparison means a token of
 * probability 0 is never returned. The target is scaled by the total so that
 * a sum slightly below 1 cannot run off the end.
 */
function drawFromDistribution(probabilities: Float64Array, u: number): number {
  let total = 0;
  let lastPositive = -1;
  for (let i = 0; i < probabilities.length; i++) {
    if (probabilities[i] > 0) {
      total += probabilities[i];
      lastPositive = i;
    }
  }

  const target = u * total;
  let cumulative = 0;
  for (let i = 0; i < lastPositive; i++) {
    cumulative += probabilities[i];
    if (target < cumulative) return i;
  }
  return lastPositive;
}

/** Copies logits into float64 scores, rejecting NaN, +Infinity and an all -Infinity row. */
function copyCheckedLogits(logits: Float32Array, scores: Float64Array, step: number | undefined): void {
  let finiteCount = 0;
  for (let i = 0; i < logits.length; i++) {
    const value = logits[i];
    if (Number.isNaN(value)) {
      throw new Error(
        `Logit of token ${i} is NaN at ${describeStep(step)}; the model output is numerically broken (check for overflow or a diverged checkpoint).`,
      );
    }
    if (value === Number.POSITIVE_INFINITY) {
      throw new Error(`Logit of token ${i} is +Infinity at ${describeStep(step)}; logits must be finite or -Infinity (check for overflow in the model).`);
    }
    if (value !== Number.NEGATIVE_INFINITY) finiteCount++;
    scores[i] = value;
  }

  if (finiteCount === 0) {
    throw new Error(
      `Every one of the ${logits.length} logits is -Infinity at ${describeStep(step)}, so no token can be sampled; leave at least one token unmasked.`,
    );
  }
}

/**
 * Applies the CTRL penalty to each distinct token in the last
 * `penaltyWindow` history entries. A repeated token is penalised once, so
 * its logit does not shrink geometrically with its count.
 */
function applyRepetitionPenalty(
  scores: Float64Array,
  vocabSize: number,
  history: ArrayLike<number>,
  options: Required<SamplingOptions>,
  step: number | undefined,
): void {
  const penalty = options.repetitionPenalty;
  if (penalty === 1 || options.penaltyWindow === 0) return;

  const start = Math.max(0, history.length - options.penaltyWindow);
  const seen = scratch.seen;
  try {
    for (let position = start; position < history.length; position++) {
      const token = history[position];
      if (!Number.isInteger(token) || token < 0 || token >= vocabSize) {
        throw new Error(
          `History token ${token} at position ${position} is not a token id in [0, ${vocabSize}) at ${describeStep(step)}; pass only ids the model can predict.`,
        );
      }
      if (seen[token] === 1) continue;
      seen[token] = 1;
      scores[token] = scores[token] > 0 ? scores[token] / penalty : scores[token] * penalty;
    }
  } finally {
    // Clear only the marks set above so the shared buffer stays all zeros
    // without a vocabulary-sized fill on every step.
    for (let position = start; position < history.length; position++) {
      const token = history[position];
      if (Number.isInteger(token) && token >= 0 && token < vocabSize) seen[token] = 0;
    }
  }
}

/** Returns the index of the largest score, the lowest index on ties. */
function argmax(scores: Float64Array, vocabSize: number): number {
  let best = 0;
  for (let i = 1; i < vocabSize; i++) {
    if (scores[i] > scores[best]) best = i;
  }
  return best;
}

/**
 * Replaces each score s with (s - max) / temperature. Subtracting the
 * maximum first gives the same softmax but keeps a small temperature from
 * overflowing to +Infinity. The maximum becomes 0 and every other entry is <= 0.
 */
function scaleByTemperature(scores: Float64Array, vocabSize: number, temperature: number): void {
  const maximum = scores[argmax(scores, vocabSize)];
  for (let i = 0; i < vocabSize; i++) {
    scores[i] = (scores[i] - maximum) / temperature;
  }
}

/**
 * Applies top-k and top-p and returns how many tokens survive. When the count
 * is below the vocabulary size, `scratch.sorted` contains the scores in
 * ascending order so the caller can find the score of the last survivor.
 */
function countCandidates(scores: Float64Array, vocabSize: number, options: Required<SamplingOptions>): number {
  const topKActive = options.topK > 0 && options.topK < vocabSize;
  const topPActive = options.topP < 1;
  if (!topKActive && !topPActive) return vocabSize;

  // A native numeric sort of the values is several times faster than sorting
  // token ids with a comparator. Which tied tokens survive is decided later
  // by id, so only the values are needed here.
  const sorted = scratch.sorted.subarray(0, vocabSize);
  sorted.set(scores.subarray(0, vocabSize));
  sorted.sort();

  const topKCount = topKActive ? options.topK : vocabSize;
  return topPActive ? nucleusSize(sorted, topKCount, options.topP) : topKCount;
}

/**
 * Returns the smallest n such that the n largest scores, renormalised over
 * the `candidateCount` largest, have probability reaching `topP`. The result
 * is at least 1, so top-k followed by top-p never empties the set.
 *
 * @param sorted - scaled scores in ascending order, so rank r from the top is
 *   `sorted[length - 1 - r]`.
 */
function nucleusSize(sorted: Float64Array, candidateCount: number, topP: number): number {
  const last = sorted.length - 1;
  let total = 0;
  for (let rank = 0; rank < candidateCount; rank++) total += Math.exp(sorted[last - rank]);

  let cumulative = 0;
  for (let rank = 0; rank < candidateCount; rank++) {
    cumulative += Math.exp(sorted[last - rank]) / total;
    if (cumulative >= topP - NUCLEUS_TOLERANCE) return rank + 1;
  }
  return candidateCount;
}

/**
 * Writes the softmax of the `keptCount` highest-scoring tokens into
 * `probabilities` and zeros the rest. Every token above the threshold score
 * is kept, and tokens tied at the threshold are kept in ascending id order
 * until `keptCount` tokens are in. The kept set always contains the maximum,
 * whose scaled score is 0, so the normaliser is at least 1 and never underflows.
 */
function writeProbabilities(scores: Float64Array, keptCount: number, vocabSize: number, probabilities: Float64Array): void {
  const threshold = keptCount < vocabSize ? scratch.sorted[vocabSize - keptCount] : Number.NEGATIVE_INFINITY;

  let aboveCount = 0;
  for (let i = 0; i < vocabSize; i++) {
    if (scores[i] > threshold) aboveCount++;
  }

  probabilities.fill(0);
  let tiesLeft = keptCount - aboveCount;
  let total = 0;
  for (let i = 0; i < vocabSize; i++) {
    const score = scores[i];
    if (score < threshold) continue;
    if (score === threshold) {
      if (tiesLeft === 0) continue;
      tiesLeft--;
    }
    const weight = Math.exp(score);
    probabilities[i] = weight;
    total += weight;
  }

  for (let i = 0; i < vocabSize; i++) probabilities[i] /= total;
}
