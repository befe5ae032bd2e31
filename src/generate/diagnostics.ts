/**
 * Diagnostics of generated token sequences: how often a sample repeats
 * itself, and how far its token frequencies drift from real data.
 *
 * Degenerate acoustic LMs tend to loop on one unit or one short cycle, which
 * the repeat rates show, or to favour a few units, which the Jensen-Shannon
 * divergence of unigram distributions shows.
 */

/** Summary of a batch of generated continuations against reference sequences. */
export interface GenerationDiagnostics {
  /** Share of generated positions whose token equals the previous token (lag 1), pooled over samples. */
  repeatPreviousRate: number;
  /** Share of generated positions whose token equals the token 20 positions earlier, pooled over samples. */
  repeatLag20Rate: number;
  /** Jensen-Shannon divergence of generated and reference unigram distributions, in bits (log base 2), in [0, 1]. */
  jsDivergence: number;
  /** Total number of generated tokens over all samples. */
  generatedTokens: number;
}

/** Lag of the long-range repeat rate: long enough to catch loops over several units. */
const LONG_REPEAT_LAG = 20;

/** Slack on the sum of a probability vector given to {@link jensenShannon}. */
const DISTRIBUTION_SUM_TOLERANCE = 1e-6;

/**
 * Computes the share of positions t >= lag at which `ids[t] === ids[t - lag]`.
 *
 * @param ids - one token sequence.
 * @param lag - distance between the compared positions, a positive integer.
 * @returns a rate in [0, 1]. It is 0 when the sequence has no position
 *   t >= lag, so the result is never NaN.
 * @throws Error when `lag` is not a positive integer.
 *
 * @example
 * repeatRate([4, 4, 7, 7, 7], 1); // 3 of 4 positions repeat: 0.75
 */
export function repeatRate(ids: ArrayLike<number>, lag: number): number {
  checkLag(lag);
  const { matches, positions } = countRepeats(ids, lag);
  return positions === 0 ? 0 : matches / positions;
}

function checkLag(lag: number): void {
  if (!Number.isInteger(lag) || lag < 1) {
    throw new Error(`Invalid repeat lag ${lag}: expected a positive integer number of positions.`);
  }
}

function countRepeats(ids: ArrayLike<number>, lag: number): { matches: number; positions: number } {
  let matches = 0;
  for (let t = lag; t < ids.length; t++) {
    if (ids[t] === ids[t - lag]) matches++;
  }
  return { matches, positions: Math.max(0, ids.length - lag) };
}

/**
 * Pools repeat counts over several sequences: every position t >= lag of
 * every sequence counts once, so long samples weigh more than short ones.
 * Comparisons never cross from one sequence into the next.
 */
function pooledRepeatRate(sequences: ArrayLike<number>[], lag: number): number {
  let matches = 0;
  let positions = 0;
  for (const ids of sequences) {
    const counts = countRepeats(ids, lag);
    matches += counts.matches;
    positions += counts.positions;
  }
  return positions === 0 ? 0 : matches / positions;
}

/**
 * Counts token frequencies over all sequences and normalises them.
 *
 * @param sequences - token sequences, pooled token by token.
 * @param vocabSize - number of token ids, a positive integer.
 * @returns a vector of length `vocabSize` that sums to 1, or all zeros when
 *   the sequences contain no tokens.
 * @throws Error when `vocabSize` is not a positive integer or a token is not
 *   an integer in [0, vocabSize); the message names the sequence and position.
 */
export function unigramDistribution(sequences: ArrayLike<number>[], vocabSize: number): Float64Array {
  if (!Number.isInteger(vocabSize) || vocabSize < 1) {
    throw new Error(`Invalid vocabulary size ${vocabSize}: expected a positive integer.`);
  }

  const counts = new Float64Array(vocabSize);
  let total = 0;
  sequences.forEach((ids, sequenceIndex) => {
    for (let position = 0; position < ids.length; position++) {
      const token = ids[position];
      if (!Number.isInteger(token) || token < 0 || token >= vocabSize) {
        throw new Error(
          `Token ${token} at position ${position} of sequence ${sequenceIndex} is not a token id in [0, ${vocabSize}); check the vocabulary size.`,
        );
      }
      counts[token]++;
      total++;
    }
  });

  if (total > 0) {
    for (let i = 0; i < vocabSize; i++) counts[i] /= total;
  }
  return counts;
}

/**
 * Computes the Jensen-Shannon divergence of two distributions in bits:
 * JS(p, q) = KL(p || m) / 2 + KL(q || m) / 2 with m = (p + q) / 2 and log base 2.
 *
 * Terms where p or q is 0 contribute 0. The result is clamped to [0, 1]
 * against rounding, because in base 2 the divergence is 0 for identical
 * distributions and 1 for distributions with disjoint support.
 *
 * @param p - probability vector, entries >= 0 summing to 1 (within 1e-6).
 * @param q - probability vector of the same length.
 * @returns the divergence in bits, in [0, 1].
 * @throws Error when the lengths differ, an entry is negative or not finite,
 *   or a vector does not sum to 1.
 */
export function jensenShannon(p: Float64Array, q: Float64Array): number {
  if (p.length !== q.length) {
    throw new Error(`Cannot compare distributions of lengths ${p.length} and ${q.length}; both must cover the same vocabulary.`);
  }
  checkDistribution(p, 'p');
  checkDistribution(q, 'q');

  let divergence = 0;
  for (let i = 0; i < p.length; i++) {
    const mixture = (p[i] + q[i]) / 2;
    if (p[i] > 0) divergence += 0.5 * p[i] * Math.log2(p[i] / mixture);
    if (q[i] > 0) divergence += 0.5 * q[i] * Math.log2(q[i] / mixture);
  }
  return Math.min(1, Math.max(0, divergence));
}

function checkDistribution(distribution: Float64Array, name: string): void {
  let sum = 0;
  for (let i = 0; i < distribution.length; i++) {
    const value = distribution[i];
    if (!Number.isFinite(value) || value < 0) {
      throw new Error(`Invalid probability ${value} at index ${i} of ${name}: entries must be finite and >= 0.`);
    }
    sum += value;
  }
  if (Math.abs(sum - 1) > DISTRIBUTION_SUM_TOLERANCE) {
    throw new Error(`Distribution ${name} sums to ${sum}, not 1; normalise it (an empty token set sums to 0).`);
  }
}

/**
 * Summarises generated continuations against reference sequences.
 *
 * Repeat rates pool positions over all samples (see {@link repeatRate}), so
 * each generated position counts once whatever the length of its sample.
 * The divergence compares the unigram distribution of all generated tokens
 * with that of all reference tokens.
 *
 * @param generated - continuation tokens only, one array per sample; the
 *   prompt must be left out so it does not count as generated text.
 * @param reference - real sequences, usually the validation split.
 * @param vocabSize - number of token ids, a positive integer.
 * @returns the diagnostics of the batch.
 * @throws Error when the generated samples or the reference sequences contain
 *   no tokens, because the divergence is then undefined, or in the cases listed
 *   for {@link unigramDistribution}.
 */
export function generationDiagnostics(generated: ArrayLike<number>[], reference: ArrayLike<number>[], vocabSize: number): GenerationDiagnostics {
  const generatedTokens = generated.reduce((sum, ids) => sum + ids.length, 0);
  if (generatedTokens === 0) {
    throw new Error('Cannot compute generation diagnostics: the generated samples contain no tokens; generate at least one token.');
  }
  const referenceTokens = reference.reduce((sum, ids) => sum + ids.length, 0);
  if (referenceTokens === 0) {
    throw new Error('Cannot compute generation diagnostics: the reference sequences contain no tokens; pass a non-empty validation split.');
  }

  const generatedDistribution = unigramDistribution(generated, vocabSize);
  const referenceDistribution = unigramDistribution(reference, vocabSize);

  return {
    repeatPreviousRate: pooledRepeatRate(generated, 1),
    repeatLag20Rate: pooledRepeatRate(generated, LONG_REPEAT_LAG),
    jsDivergence: jensenShannon(generatedDistribution, referenceDistribution),
    generatedTokens,
  };
}
