/**
 * Count-based baselines for next-token prediction over acoustic tokens: an
 * add-one unigram, interpolated Kneser–Ney bigram and trigram models, and
 * the "repeat the previous token" rule. A Transformer that does not beat
 * the trigram has learnt little beyond local statistics.
 *
 * Scoring conventions, chosen because together they reproduce the reference
 * numbers of the VCTK corpora to three decimals (HuBERT-100: unigram 4.319,
 * bigram 1.641 / 0.524, trigram 1.504 / 0.559, repeat 0.512):
 * - Every validation token except the first of its sequence is scored
 *   exactly once, given the tokens before it in its own sequence. There is
 *   no begin-of-sequence marker, so the first token is never a target, and
 *   at position 1 the trigram model has one token of history and scores
 *   like the bigram model.
 * - The unigram counts every training token, including first tokens.
 * - Accuracy counts a hit when the target is the most frequent continuation
 *   of the longest history seen in training (see {@link KneserNeyModel.predict}).
 * - Repeat-previous accuracy uses the same targets: position t is a hit when
 *   token t equals token t - 1.
 */

/** Default absolute discount of the Kneser–Ney models. */
export const DEFAULT_DISCOUNT = 0.75;

/** Default order of {@link KneserNeyModel.fit}: a trigram model. */
export const DEFAULT_ORDER = 3;

/** Options of {@link KneserNeyModel.fit}. */
export interface KneserNeyOptions {
  /** Number of tokens in an n-gram, history included; at least 2. Default 3 (trigram). */
  order?: number;
  /** Absolute discount subtracted from every seen n-gram count, in (0, 1]. Default 0.75. */
  discount?: number;
}

/** Options of {@link computeBaselines}. */
export interface BaselineOptions {
  /** Absolute discount of the Kneser–Ney models, in (0, 1]. Default 0.75. */
  discount?: number;
}

/** Scores of the count baselines on the validation sequences. Cross-entropies are in nats per token. */
export interface BaselineResult {
  /** Cross-entropy of the add-one unigram. */
  unigramCE: number;
  /** Cross-entropy of the interpolated Kneser–Ney bigram. */
  bigramCE: number;
  /** Fraction of targets equal to the bigram's most frequent continuation. */
  bigramAccuracy: number;
  /** Cross-entropy of the interpolated Kneser–Ney trigram. */
  trigramCE: number;
  /** Fraction of targets equal to the trigram's most frequent continuation. */
  trigramAccuracy: number;
  /** Fraction of targets equal to the token before them. */
  repeatAccuracy: number;
  /** Number of validation tokens scored: the validation tokens minus one per sequence. */
  tokens: number;
}

/**
 * Checks that every token is an integer id in `[0, vocabSize)`, naming the
 * first offending sequence, position and value.
 */
function validateTokens(sequences: readonly ArrayLike<number>[], vocabSize: number, label: string): void {
  for (let s = 0; s < sequences.length; s += 1) {
    const sequence = sequences[s];
    for (let t = 0; t < sequence.length; t += 1) {
      const token = sequence[t];
      if (!Number.isInteger(token) || token < 0 || token >= vocabSize) {
        throw new Error(
          `Invalid token ${token} at position ${t} of ${label} sequence ${s}: token ids must be integers in [0, ${vocabSize}). ` +
            'Check the vocabulary size or the token files.',
        );
      }
    }
  }
}

function validateVocabSize(vocabSize: number): void {
  if (!Number.isSafeInteger(vocabSize) || vocabSize < 1) {
    throw new Error(`vocabSize must be a positive integer, received ${vocabSize}.`);
  }
}

function validateDiscount(discount: number): void {
  if (!Number.isFinite(discount) || discount <= 0 || discount > 1) {
    throw new Error(`The Kneser–Ney discount must be in (0, 1], received ${discount}.`);
  }
}

/**
 * Counts of the n-grams of one order, grouped by context in compressed
 * sparse rows. A context of k tokens has the id `sum(h[i] * V^(k-1-i))`, and
 * the n-gram key is `contextId * V + token`, exact in a double while
 * `V^order ≤ 2^53`.
 */
class NgramCounts {
  private constructor(
    /** Ids of the contexts seen in training, ascending. */
    readonly contextIds: Float64Array,
    /** Start of each context's entries; entry range of context i is `[offsets[i], offsets[i + 1])`. */
    readonly offsets: Int32Array,
    /** Continuation token of each entry, ascending within a context. */
    readonly tokens: Int32Array,
    /** Training count of each entry. */
    readonly counts: Float64Array,
    /** Total count of each context, c(h·). */
    readonly totals: Float64Array,
    /** Most frequent continuation of each context, the smallest id on ties. */
    readonly mostFrequent: Int32Array,
  ) {}

  /** Counts the n-grams of `contextLength + 1` tokens in every sequence. */
  static fromSequences(sequences: readonly ArrayLike<number>[], vocabSize: number, contextLength: number): NgramCounts {
    let keyCount = 0;
    for (const sequence of sequences) {
      keyCount += Math.max(0, sequence.length - contextLength);
    }

    const keys = new Float64Array(keyCount);
    let next = 0;
    for (const sequence of sequences) {
      for (let t = contextLength; t < sequence.length; t += 1) {
        keys[next] = contextId(sequence, t, contextLength, vocabSize) * vocabSize + sequence[t];
        next += 1;
      }
    }
    keys.sort();
    return NgramCounts.fromSortedKeys(keys, vocabSize);
  }

  /** Run-length encodes sorted n-gram keys into per-context rows. */
  private static fromSortedKeys(keys: Float64Array, vocabSize: number): NgramCounts {
    const contextIds: number[] = [];
    const offsets: number[] = [];
    const tokens: number[] = [];
    const counts: number[] = [];

    for (let i = 0; i < keys.length;) {
      const key = keys[i];
      let end = i + 1;
      while (end < keys.length && keys[end] === key) {
        end += 1;
      }

      const context = Math.floor(key / vocabSize);
      if (contextIds.length === 0 || contextIds[contextIds.length - 1] !== context) {
        contextIds.push(context);
        offsets.push(tokens.length);
      }
      tokens.push(key - context * vocabSize);
      counts.push(end - i);
      i = end;
    }
    offsets.push(tokens.length);

    const totals = new Float64Array(contextIds.length);
    const mostFrequent = new Int32Array(contextIds.length);
    for (let c = 0; c < contextIds.length; c += 1) {
      let best = offsets[c];
      for (let e = offsets[c]; e < offsets[c + 1]; e += 1) {
        totals[c] += counts[e];
        // Strictly greater keeps the smallest id on ties, because tokens ascend within a row.
        if (counts[e] > counts[best]) {
          best = e;
        }
      }
      mostFrequent[c] = tokens[best];
    }

    return new NgramCounts(Float64Array.from(contextIds), Int32Array.from(offsets), Int32Array.from(tokens), Float64Array.from(counts), totals, mostFrequent);
  }

  /** Returns the row index of a context, or -1 when training never saw it. */
  findContext(id: number): number {
    return binarySearch(this.contextIds, id, 0, this.contextIds.length);
  }

  /** Returns c(h w) for the context in row `row`. */
  count(row: number, token: number): number {
    const entry = binarySearch(this.tokens, token, this.offsets[row], this.offsets[row + 1]);
    return entry < 0 ? 0 : this.counts[entry];
  }

  /** Returns N1+(h •), the number of distinct tokens seen after the context in row `row`. */
  distinctContinuations(row: number): number {
    return this.offsets[row + 1] - this.offsets[row];
  }
}

/** Returns the index of `value` in the ascending slice `[start, end)` of `array`, or -1. */
function binarySearch(array: ArrayLike<number>, value: number, start: number, end: number): number {
  let low = start;
  let high = end - 1;
  while (low <= high) {
    const middle = (low + high) >>> 1;
    const probe = array[middle];
    if (probe === value) {
      return middle;
    }
    if (probe < value) {
      low = middle + 1;
    } else {
      high = middle - 1;
    }
  }
  return -1;
}

/** Returns the id of the `length` tokens of `sequence` just before position `end`. */
function contextId(sequence: ArrayLike<number>, end: number, length: number, vocabSize: number): number {
  let id = 0;
  for (let i = end - length; i < end; i += 1) {
    id = id * vocabSize + sequence[i];
  }
  return id;
}

/**
 * An interpolated Kneser–Ney n-gram model over token ids `0 … V-1`.
 *
 * With discount D, the probability of token w after a history h of k ≥ 1
 * tokens seen in training is
 *
 *   p_k(w | h) = (max(c(h w) - D, 0) + D · N1+(h •) · p_{k-1}(w | h')) / c(h ·),
 *
 * where h' drops the oldest token of h, c are raw training counts and
 * N1+(h •) is the number of distinct tokens seen after h. A history never
 * seen in training takes the lower order unchanged. The bottom level is an
 * add-one unigram over continuation counts,
 *
 *   p_0(w) = (N1+(• w) + 1) / (N1+(• •) + V),
 *
 * where N1+(• w) is the number of distinct tokens seen before w. Only that
 * bottom level uses continuation counts. The bigram inside a trigram model
 * keeps raw counts, because that reproduces the reference trigram numbers
 * (continuation counts there give 1.492 instead of 1.504 on HuBERT-100).
 *
 * @example
 * const model = KneserNeyModel.fit(trainSequences, 100, { order: 3 });
 * model.probability([71, 71], 71); // p(71 | 71 71)
 * model.distribution([71, 71]);    // Float64Array of 100 probabilities that sum to 1
 */
export class KneserNeyModel {
  private constructor(
    /** Number of token ids. */
    readonly vocabSize: number,
    /** Tokens per n-gram, history included. */
    readonly order: number,
    /** Absolute discount D. */
    readonly discount: number,
    // levels[k - 1] counts the n-grams with k history tokens.
    private readonly levels: NgramCounts[],
    private readonly unigram: Float64Array,
  ) {}

  /**
   * Counts the n-grams of every order up to `order` in the training
   * sequences. N-grams never cross a sequence boundary.
   *
   * @param sequences - token ids, one array per recording.
   * @param vocabSize - number of token ids V; every token must be in `[0, V)`.
   * @param options - order and discount; see {@link KneserNeyOptions}.
   * @throws on an invalid vocabulary size, order, discount or token.
   */
  static fit(sequences: readonly ArrayLike<number>[], vocabSize: number, options: KneserNeyOptions = {}): KneserNeyModel {
    const order = options.order ?? DEFAULT_ORDER;
    const discount = options.discount ?? DEFAULT_DISCOUNT;

    validateVocabSize(vocabSize);
    validateDiscount(discount);
    if (!Number.isInteger(order) || order < 2) {
      throw new Error(`The Kneser–Ney order must be an integer of at least 2, received ${order}.`);
    }
    if (vocabSize ** order > Number.MAX_SAFE_INTEGER) {
      throw new Error(`A vocabulary of ${vocabSize} tokens is too large for order ${order}: n-gram ids need vocabSize^order ≤ 2^53. Use a lower order.`);
    }
    validateTokens(sequences, vocabSize, 'training');

    const levels: NgramCounts[] = [];
    for (let historyLength = 1; historyLength < order; historyLength += 1) {
      levels.push(NgramCounts.fromSequences(sequences, vocabSize, historyLength));
    }
    return new KneserNeyModel(vocabSize, order, discount, levels, continuationUnigram(levels[0], vocabSize));
  }

  /**
   * Returns p(token | history). Only the last `order - 1` tokens of
   * `history` count; a shorter history uses the lower orders, and an empty
   * one gives the bottom unigram.
   */
  probability(history: ArrayLike<number>, token: number): number {
    this.checkToken(token);
    return this.probabilityBefore(history, history.length, token);
  }

  /** Returns p(sequence[position] | sequence[0 … position-1]). */
  probabilityAt(sequence: ArrayLike<number>, position: number): number {
    this.checkPosition(sequence, position);
    return this.probabilityBefore(sequence, position, sequence[position]);
  }

  /**
   * Returns the full predictive distribution after `history`, a
   * Float64Array of `vocabSize` probabilities that sum to 1.
   */
  distribution(history: ArrayLike<number>): Float64Array {
    const probabilities = Float64Array.from(this.unigram);
    const usable = Math.min(this.order - 1, history.length);

    for (let k = 1; k <= usable; k += 1) {
      const level = this.levels[k - 1];
      const row = level.findContext(contextId(history, history.length, k, this.vocabSize));
      if (row < 0) {
        // A longer history containing this one cannot have been seen either.
        break;
      }

      const total = level.totals[row];
      const backoffWeight = (this.discount * level.distinctContinuations(row)) / total;
      for (let w = 0; w < this.vocabSize; w += 1) {
        probabilities[w] *= backoffWeight;
      }
      for (let e = level.offsets[row]; e < level.offsets[row + 1]; e += 1) {
        probabilities[level.tokens[e]] += Math.max(level.counts[e] - this.discount, 0) / total;
      }
    }
    return probabilities;
  }

  /**
   * Returns the maximum-likelihood prediction after `history`: the most
   * frequent training continuation of the longest suffix of `history` (up
   * to `order - 1` tokens) that occurs in training, the smallest id on ties.
   * With no such suffix it returns the mode of the bottom unigram.
   *
   * NOTE: this is not always the argmax of {@link distribution}. The
   * reference accuracies match this rule, while the Kneser–Ney argmax
   * scores higher (0.561 instead of 0.559 for the HuBERT-100 trigram).
   */
  predict(history: ArrayLike<number>): number {
    return this.predictBefore(history, history.length);
  }

  /** Returns {@link predict} for the tokens before `position` in `sequence`. */
  predictAt(sequence: ArrayLike<number>, position: number): number {
    this.checkPosition(sequence, position);
    return this.predictBefore(sequence, position);
  }

  private probabilityBefore(history: ArrayLike<number>, end: number, token: number): number {
    let probability = this.unigram[token];
    const usable = Math.min(this.order - 1, end);

    // Build up from the shortest history so each level interpolates with the one below.
    for (let k = 1; k <= usable; k += 1) {
      const level = this.levels[k - 1];
      const row = level.findContext(contextId(history, end, k, this.vocabSize));
      if (row < 0) {
        break;
      }
      const discounted = Math.max(level.count(row, token) - this.discount, 0);
      const backoffMass = this.discount * level.distinctContinuations(row) * probability;
      probability = (discounted + backoffMass) / level.totals[row];
    }
    return probability;
  }

  private predictBefore(history: ArrayLike<number>, end: number): number {
    for (let k = Math.min(this.order - 1, end); k >= 1; k -= 1) {
      const level = this.levels[k - 1];
      const row = level.findContext(contextId(history, end, k, this.vocabSize));
      if (row >= 0) {
        return level.mostFrequent[row];
      }
    }
    return argmax(this.unigram);
  }

  private checkToken(token: number): void {
    if (!Number.isInteger(token) || token < 0 || token >= this.vocabSize) {
      throw new Error(`Token ${token} is outside the vocabulary [0, ${this.vocabSize}) of this model.`);
    }
  }

  private checkPosition(sequence: ArrayLike<number>, position: number): void {
    if (!Number.isInteger(position) || position < 0 || position >= sequence.length) {
      throw new Error(`Position ${position} is outside a sequence of length ${sequence.length}.`);
    }
    this.checkToken(sequence[position]);
  }
}

/** Builds the add-one unigram over continuation counts N1+(• w) from the bigram counts. */
function continuationUnigram(bigrams: NgramCounts, vocabSize: number): Float64Array {
  const continuations = new Float64Array(vocabSize);
  for (const token of bigrams.tokens) {
    continuations[token] += 1;
  }

  const denominator = bigrams.tokens.length + vocabSize;
  return continuations.map((count) => (count + 1) / denominator);
}

/** Returns the index of the largest entry, the first one on ties. */
function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i += 1) {
    if (values[i] > values[best]) {
      best = i;
    }
  }
  return best;
}

/**
 * Returns the add-one unigram fitted on every token of the training
 * sequences: p(w) = (c(w) + 1) / (N + V).
 *
 * @throws on an invalid vocabulary size or token.
 */
export function addOneUnigram(sequences: readonly ArrayLike<number>[], vocabSize: number): Float64Array {
  validateVocabSize(vocabSize);
  validateTokens(sequences, vocabSize, 'training');

  const counts = new Float64Array(vocabSize);
  let total = 0;
  for (const sequence of sequences) {
    for (let t = 0; t < sequence.length; t += 1) {
      counts[sequence[t]] += 1;
    }
    total += sequence.length;
  }
  return counts.map((count) => (count + 1) / (total + vocabSize));
}

/**
 * Fits the count baselines on the training sequences and scores them on the
 * validation sequences, with the conventions in this module's header.
 *
 * @param train - training token ids, one array per recording.
 * @param val - validation token ids, one array per recording.
 * @param vocabSize - number of token ids; every token must be in `[0, vocabSize)`.
 * @param options - Kneser–Ney discount; see {@link BaselineOptions}.
 * @returns cross-entropies in nats per token, accuracies, and the number of scored tokens.
 * @throws when a token is out of range, the training set has no tokens, or no
 *   validation sequence has two tokens.
 * @example
 * const result = computeBaselines(trainSequences, valSequences, 100);
 * console.log(formatBaselineTable(result));
 */
export function computeBaselines(
  train: readonly ArrayLike<number>[],
  val: readonly ArrayLike<number>[],
  vocabSize: number,
  options: BaselineOptions = {},
): BaselineResult {
  const discount = options.discount ?? DEFAULT_DISCOUNT;
  validateVocabSize(vocabSize);
  validateDiscount(discount);
  validateTokens(val, vocabSize, 'validation');
  if (!train.some((sequence) => sequence.length > 0)) {
    throw new Error(`The training set has no tokens (${train.length} sequences). Baselines need training counts.`);
  }

  const unigram = addOneUnigram(train, vocabSize);
  const bigram = KneserNeyModel.fit(train, vocabSize, { order: 2, discount });
  const trigram = KneserNeyModel.fit(train, vocabSize, { order: 3, discount });

  let tokens = 0;
  let unigramLoss = 0;
  let bigramLoss = 0;
  let trigramLoss = 0;
  let bigramHits = 0;
  let trigramHits = 0;
  let repeatHits = 0;

  // The first token of each sequence has no history, so it is never a target.
  for (const sequence of val) {
    for (let t = 1; t < sequence.length; t += 1) {
      const target = sequence[t];
      tokens += 1;

      unigramLoss -= Math.log(unigram[target]);
      bigramLoss -= Math.log(bigram.probabilityAt(sequence, t));
      trigramLoss -= Math.log(trigram.probabilityAt(sequence, t));

      bigramHits += bigram.predictAt(sequence, t) === target ? 1 : 0;
      trigramHits += trigram.predictAt(sequence, t) === target ? 1 : 0;
      repeatHits += sequence[t - 1] === target ? 1 : 0;
    }
  }

  if (tokens === 0) {
    throw new Error(`No validation token can be scored: all ${val.length} validation sequences are shorter than 2 tokens.`);
  }

  return {
    unigramCE: unigramLoss / tokens,
    bigramCE: bigramLoss / tokens,
    bigramAccuracy: bigramHits / tokens,
    trigramCE: trigramLoss / tokens,
    trigramAccuracy: trigramHits / tokens,
    repeatAccuracy: repeatHits / tokens,
    tokens,
  };
}

/** A row that {@link formatBaselineTable} prints below the baselines, such as a trained model. */
export interface ComparisonRow {
  /** Label in the first column. */
  name: string;
  /** Cross-entropy in nats per token; omit when not measured. */
  crossEntropy?: number;
  /** Next-token accuracy in [0, 1]; omit when not measured. */
  accuracy?: number;
}

/**
 * Formats baseline scores as an aligned text table with cross-entropy
 * (nats per token), perplexity and accuracy, three decimals each. Extra
 * rows, such as the trained model's scores, follow the baselines.
 *
 * @example
 * formatBaselineTable(result, [{ name: 'transformer', crossEntropy: 1.52, accuracy: 0.54 }]);
 * // model                      CE (nats)  perplexity  accuracy
 * // unigram (add-one)              4.319      75.129         -
 * // ...
 */
export function formatBaselineTable(result: BaselineResult, extraRows: readonly ComparisonRow[] = []): string {
  const rows: ComparisonRow[] = [
    { name: 'unigram (add-one)', crossEntropy: result.unigramCE },
    { name: 'Kneser-Ney bigram', crossEntropy: result.bigramCE, accuracy: result.bigramAccuracy },
    { name: 'Kneser-Ney trigram', crossEntropy: result.trigramCE, accuracy: result.trigramAccuracy },
    { name: 'repeat previous token', accuracy: result.repeatAccuracy },
    ...extraRows,
  ];

  const formatNumber = (value: number | undefined): string => (value === undefined ? '-' : value.toFixed(3));
  const cells = rows.map((row) => [
    row.name,
    formatNumber(row.crossEntropy),
    formatNumber(row.crossEntropy === undefined ? undefined : Math.exp(row.crossEntropy)),
    formatNumber(row.accuracy),
  ]);
  const header = ['model', 'CE (nats)', 'perplexity', 'accuracy'];

  const nameWidth = Math.max(header[0].length, ...cells.map((cell) => cell[0].length));
  const numberWidths = [1, 2, 3].map((column) => Math.max(header[column].length, ...cells.map((cell) => cell[column].length)));
  const formatLine = (cell: string[]): string => [cell[0].padEnd(nameWidth), ...numberWidths.map((width, i) => cell[i + 1].padStart(width))].join('  ');

  const footer = `${result.tokens} validation tokens scored`;
  return [formatLine(header), ...cells.map(formatLine), footer].join('\n');
}
