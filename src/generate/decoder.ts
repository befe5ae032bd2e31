/**
 * Token-by-token decoders: a KV-cache decoder and a full-recomputation
 * decoder that share one context policy.
 *
 * Context policy. The model has learned absolute positions 0 to
 * maxSeqLen − 1, so a context never contains more than maxSeqLen tokens.
 * A prompt longer than that starts from its last maxSeqLen tokens. When a
 * new token would make a row's context longer than maxSeqLen, the row drops
 * the oldest `slide` tokens and re-encodes the rest, new token included,
 * from position 0. The context then contains maxSeqLen − slide + 1 tokens and
 * grows again, so a rebuild happens once every `slide` tokens. With
 * `slide: 1` every step is conditioned on exactly the last maxSeqLen tokens (the classic
 * rule, a rebuild on every step), and larger values trade a shorter average
 * context for fewer rebuilds.
 *
 * Why rebuild instead of rolling the cache: cached keys and values were
 * computed with the position embedding of the slot where their token sat.
 * After the window moves, each token has a new position, so the cached
 * values no longer match what the model would compute and must be redone.
 *
 * Shapes: R rows (sequences decoded together), N items (row, position,
 * token) in one forward pass, P = maxSeqLen, d model width, H heads,
 * hs = d / H, f feed-forward width, V vocabulary.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { ModelEngine } from '../model/engine.js';
import { layerParamName, type LayerParamName } from '../model/params.js';

/** Options shared by every decoder. */
export interface DecoderOptions {
  /**
   * Tokens dropped from the front of a full context per rebuild, an integer
   * in [1, maxSeqLen]. Default: {@link defaultSlide}, half of maxSeqLen.
   * 1 reproduces the classic "last maxSeqLen tokens" rule exactly.
   */
  slide?: number;
}

/** A decoder that turns prompts and sampled tokens into next-token logits. */
export interface TokenDecoder {
  /** Tokens dropped per rebuild, after defaults. */
  readonly slide: number;

  /**
   * Encodes one prompt per row and returns the logits of each row's next
   * token, (R, V) row-major. Replaces any earlier rows.
   */
  start(prompts: ArrayLike<number>[]): Float32Array;

  /**
   * Appends one token to every row and returns the logits of each row's
   * next token, (R, V) row-major.
   */
  append(tokens: ArrayLike<number>): Float32Array;

  /** Returns the tokens a row's next prediction is conditioned on, oldest first (a view, valid until the next call). */
  context(row: number): Int32Array;
}

/**
 * Returns the default number of tokens dropped per rebuild: half the
 * context, at least 1. Half balances the two costs: a rebuild re-encodes
 * about maxSeqLen / 2 tokens every maxSeqLen / 2 steps, and no context
 * falls below half the window.
 */
export function defaultSlide(maxSeqLen: number): number {
  return Math.max(1, Math.floor(maxSeqLen / 2));
}

/**
 * Fills in the default slide and checks it.
 *
 * @throws Error when `slide` is not an integer in [1, maxSeqLen].
 */
export function resolveSlide(slide: number | undefined, maxSeqLen: number): number {
  const resolved = slide ?? defaultSlide(maxSeqLen);
  if (!Number.isInteger(resolved) || resolved < 1 || resolved > maxSeqLen) {
    throw new Error(`Invalid slide ${resolved}: expected an integer in [1, ${maxSeqLen}] (maxSeqLen of the model).`);
  }
  return resolved;
}

/**
 * Checks that a prompt is non-empty and that every id is an integer in
 * [0, vocabSize).
 *
 * @param label - how the error names the prompt, e.g. `prompt 2` or a file name.
 * @throws Error naming the prompt, the first invalid id and its position.
 */
export function checkPromptIds(ids: ArrayLike<number>, vocabSize: number, label: string): void {
  if (ids.length === 0) {
    throw new Error(`Invalid ${label}: it is empty; give at least one token id.`);
  }
  for (let position = 0; position < ids.length; position++) {
    const id = ids[position];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`Invalid ${label}: token id ${id} at position ${position} is outside the model's vocabulary [0, ${vocabSize - 1}].`);
    }
  }
}

/**
 * The current context of every row under the sliding policy described in
 * this module's header. Both decoders keep one, so they always condition on
 * the same tokens.
 */
export class SlidingContexts {
  readonly maxSeqLen: number;
  readonly slide: number;
  readonly rows: number;
  private readonly tokens: Int32Array;
  private readonly lengths: Int32Array;

  /**
   * @param prompts - one prompt per row. Only the last `maxSeqLen` tokens of each are kept.
   * @param maxSeqLen - the model's maxSeqLen.
   * @param slide - tokens dropped per rebuild, already checked by {@link resolveSlide}.
   */
  constructor(prompts: ArrayLike<number>[], maxSeqLen: number, slide: number) {
    this.maxSeqLen = maxSeqLen;
    this.slide = slide;
    this.rows = prompts.length;
    this.tokens = new Int32Array(this.rows * maxSeqLen);
    this.lengths = new Int32Array(this.rows);

    for (let row = 0; row < this.rows; row++) {
      const prompt = prompts[row];
      const start = Math.max(0, prompt.length - maxSeqLen);
      for (let i = start; i < prompt.length; i++) this.tokens[row * maxSeqLen + i - start] = prompt[i];
      this.lengths[row] = prompt.length - start;
    }
  }

  /** Returns the number of tokens in a row's context. */
  length(row: number): number {
    return this.lengths[row];
  }

  /** Returns a view of a row's context, oldest token first. */
  context(row: number): Int32Array {
    const base = row * this.maxSeqLen;
    return this.tokens.subarray(base, base + this.lengths[row]);
  }

  /**
   * Appends a token to a row's context, sliding the window when the context
   * is full.
   *
   * @returns true when the window slid. Every position of the row then
   *   changed, so its cache must be rebuilt. false when the token was added at the end.
   */
  append(row: number, token: number): boolean {
    const base = row * this.maxSeqLen;
    const length = this.lengths[row];
    if (length < this.maxSeqLen) {
      this.tokens[base + length] = token;
      this.lengths[row] = length + 1;
      return false;
    }

    // Keep the last maxSeqLen − slide tokens, then add the new one.
    this.tokens.copyWithin(base, base + this.slide, base + this.maxSeqLen);
    const kept = this.maxSeqLen - this.slide;
    this.tokens[base + kept] = token;
    this.lengths[row] = kept + 1;
    return true;
  }
}

/**
 * Creates the decoder that `useCache` selects.
 *
 * @param useCache - true (default) for {@link KvCacheDecoder}, false for {@link RecomputeDecoder}.
 */
export function createDecoder(engine: ModelEngine, options: DecoderOptions & { useCache?: boolean } = {}): TokenDecoder {
  return (options.useCache ?? true) ? new KvCacheDecoder(engine, options) : new RecomputeDecoder(engine, options);
}

function checkStartPrompts(prompts: ArrayLike<number>[], vocabSize: number): void {
  if (prompts.length === 0) {
    throw new Error('Invalid prompts: the list is empty; give at least one prompt.');
  }
  prompts.forEach((prompt, row) => checkPromptIds(prompt, vocabSize, `prompt of row ${row}`));
}

function checkAppendTokens(tokens: ArrayLike<number>, rows: number, vocabSize: number): void {
  if (rows === 0) {
    throw new Error('Cannot append tokens before start(): call start() with the prompts first.');
  }
  if (tokens.length !== rows) {
    throw new Error(`Expected one token per row (${rows}), received ${tokens.length}.`);
  }
  for (let row = 0; row < rows; row++) {
    const id = tokens[row];
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new Error(`Token id ${id} for row ${row} is outside the model's vocabulary [0, ${vocabSize - 1}].`);
    }
  }
}

/**
 * Decoder that recomputes the whole current context of every row on each
 * step with {@link ModelEngine.logits}. Its cost per token grows with the
 * context length. It is the reference for the KV-cache decoder and, with
 * `slide: 1`, the classic sampling loop.
 */
export class RecomputeDecoder implements TokenDecoder {
  readonly slide: number;
  private readonly engine: ModelEngine;
  private contexts: SlidingContexts | null = null;

  /** @param engine - a model whose weights are loaded; its dropout is not applied. */
  constructor(engine: ModelEngine, options: DecoderOptions = {}) {
    this.engine = engine;
    this.slide = resolveSlide(options.slide, engine.config.maxSeqLen);
  }

  start(prompts: ArrayLike<number>[]): Float32Array {
    checkStartPrompts(prompts, this.engine.config.vocabSize);
    this.contexts = new SlidingContexts(prompts, this.engine.config.maxSeqLen, this.slide);
    return this.nextLogits(this.contexts);
  }

  append(tokens: ArrayLike<number>): Float32Array {
    const contexts = this.contexts;
    checkAppendTokens(tokens, contexts?.rows ?? 0, this.engine.config.vocabSize);
    for (let row = 0; row < contexts!.rows; row++) contexts!.append(row, tokens[row]);
    return this.nextLogits(contexts!);
  }

  context(row: number): Int32Array {
    if (this.contexts === null) throw new Error('No context yet: call start() with the prompts first.');
    return this.contexts.context(row);
  }

  /** Runs one batch per distinct context length, because a batch needs equal lengths. */
  private nextLogits(contexts: SlidingContexts): Float32Array {
    const V = this.engine.config.vocabSize;
    const out = new Float32Array(contexts.rows * V);
    const rowsByLength = new Map<number, number[]>();
    for (let row = 0; row < contexts.rows; row++) {
      const length = contexts.length(row);
      const group = rowsByLength.get(length) ?? [];
      group.push(row);
      rowsByLength.set(length, group);
    }

    for (const [T, rows] of rowsByLength) {
      const inputs = new Int32Array(rows.length * T);
      rows.forEach((row, b) => inputs.set(contexts.context(row), b * T));
      const targets = new Int32Array(rows.length * T).fill(-1);
      const logits = this.engine.logits({ inputs, targets, batchSize: rows.length, seqLen: T }); // (B, T, V)
      rows.forEach((row, b) => {
        const last = (b * T + T - 1) * V;
        out.set(logits.subarray(last, last + V), row * V);
      });
    }
    return out;
  }
}

/** Returns, for each row, the first row whose context has the same tokens. */
function firstRowOfEachContext(contexts: SlidingContexts): number[] {
  const firstByKey = new Map<string, number>();
  const firstRows: number[] = [];
  for (let row = 0; row < contexts.rows; row++) {
    const key = contexts.context(row).join(',');
    const first = firstByKey.get(key) ?? row;
    firstByKey.set(key, first);
    firstRows.push(first);
  }
  return firstRows;
}

/** Items of one cached forward pass: item i puts `tokens[i]` at `positions[i]` of row `rows[i]`. */
interface ItemBatch {
  count: number;
  rows: Int32Array;
  positions: Int32Array;
  tokens: Int32Array;
  /** Index of the item whose logits each row needs, one per row. */
  outputs: Int32Array;
}

/** One layer's weights: matrices and biases on the backend, LayerNorm parameters on the host. */
interface LayerWeights {
  wqkv: tf.Tensor2D;
  bqkv: tf.Tensor;
  wo: tf.Tensor2D;
  bo: tf.Tensor;
  w1: tf.Tensor2D;
  b1: tf.Tensor;
  w2: tf.Tensor2D;
  b2: tf.Tensor;
  ln1g: Float32Array;
  ln1b: Float32Array;
  ln2g: Float32Array;
  ln2b: Float32Array;
}

/** Every weight a cached forward pass reads, looked up once per {@link KvCacheDecoder.start}. */
interface DecoderWeights {
  layers: LayerWeights[];
  tokEmb: Float32Array;
  posEmb: Float32Array;
  lnfG: Float32Array;
  lnfB: Float32Array;
  head: tf.Tensor2D;
}

/**
 * Decoder that caches every layer's keys and values for each row and
 * position, so a new token costs one position's work. The projections run
 * as row-stacked (R, d) matmuls on the backend. Attention of one query over
 * the row's cached keys and the LayerNorms run in JavaScript.
 *
 * This is exact for the post-norm model because a position's output at every
 * layer depends only on its own residual stream and the keys and values of
 * earlier positions, and those never change until the window slides.
 *
 * Prompts and rebuilds of different rows go through the same forward pass as
 * single steps: a pass is a list of (row, position, token) items, and each
 * row keeps its own position counter. The decoder keeps no tensors between
 * calls. It reads the engine's weights in {@link KvCacheDecoder.start}, so a
 * later `setWeights` takes effect at the next start.
 */
export class KvCacheDecoder implements TokenDecoder {
  readonly slide: number;
  private readonly engine: ModelEngine;
  private readonly d: number;
  private readonly maxSeqLen: number;
  private contexts: SlidingContexts | null = null;
  private weights: DecoderWeights | null = null;
  /** Cached keys and values per layer, each (R, P, d). */
  private keys: Float32Array[] = [];
  private values: Float32Array[] = [];
  /** Residual stream and attention output of the current pass, (N, d), grown on demand. */
  private hidden = new Float32Array(0);
  private attended = new Float32Array(0);
  /** Attention scratch: scores of one query over P keys, and the weighted sum of one head's values. */
  private readonly scores: Float64Array;
  private readonly headSums: Float64Array;

  /** @param engine - a model whose weights are loaded; its dropout is not applied. */
  constructor(engine: ModelEngine, options: DecoderOptions = {}) {
    this.engine = engine;
    this.d = engine.config.dModel;
    this.maxSeqLen = engine.config.maxSeqLen;
    this.slide = resolveSlide(options.slide, this.maxSeqLen);
    this.scores = new Float64Array(this.maxSeqLen);
    this.headSums = new Float64Array(this.d / engine.config.nHeads);
  }

  start(prompts: ArrayLike<number>[]): Float32Array {
    checkStartPrompts(prompts, this.engine.config.vocabSize);
    this.weights = this.lookUpWeights();
    const contexts = new SlidingContexts(prompts, this.maxSeqLen, this.slide);
    this.contexts = contexts;

    const cacheSize = contexts.rows * this.maxSeqLen * this.d;
    this.keys = [];
    this.values = [];
    for (let layer = 0; layer < this.engine.config.nLayers; layer++) {
      this.keys.push(new Float32Array(cacheSize));
      this.values.push(new Float32Array(cacheSize));
    }

    // Rows with the same context (several samples of one prompt) are encoded
    // once, and the copies take the first row's output item and cache.
    const firstRows = firstRowOfEachContext(contexts);
    const encoded = firstRows.filter((first, row) => first === row);
    const batch = this.batchOf(contexts, encoded, []);
    for (let row = 0; row < contexts.rows; row++) batch.outputs[row] = batch.outputs[firstRows[row]];

    const logits = this.forward(batch);
    for (let row = 0; row < contexts.rows; row++) {
      if (firstRows[row] !== row) this.copyCache(firstRows[row], row, contexts.length(row));
    }
    return logits;
  }

  append(tokens: ArrayLike<number>): Float32Array {
    const contexts = this.contexts;
    checkAppendTokens(tokens, contexts?.rows ?? 0, this.engine.config.vocabSize);

    const rebuilt: number[] = [];
    const stepped: number[] = [];
    for (let row = 0; row < contexts!.rows; row++) {
      if (contexts!.append(row, tokens[row])) rebuilt.push(row);
      else stepped.push(row);
    }
    return this.forward(this.batchOf(contexts!, rebuilt, stepped));
  }

  context(row: number): Int32Array {
    if (this.contexts === null) throw new Error('No context yet: call start() with the prompts first.');
    return this.contexts.context(row);
  }

  /** Copies the first `length` cached positions of row `from` to row `to` in every layer. */
  private copyCache(from: number, to: number, length: number): void {
    const rowSize = this.maxSeqLen * this.d;
    for (let layer = 0; layer < this.keys.length; layer++) {
      this.keys[layer].copyWithin(to * rowSize, from * rowSize, from * rowSize + length * this.d);
      this.values[layer].copyWithin(to * rowSize, from * rowSize, from * rowSize + length * this.d);
    }
  }

  /**
   * Lists the items of one pass: every position of the `whole` rows (after
   * start or a rebuild) and only the newest position of the `stepped` rows.
   */
  private batchOf(contexts: SlidingContexts, whole: number[], stepped: number[]): ItemBatch {
    let count = stepped.length;
    for (const row of whole) count += contexts.length(row);
    const batch: ItemBatch = {
      count,
      rows: new Int32Array(count),
      positions: new Int32Array(count),
      tokens: new Int32Array(count),
      outputs: new Int32Array(contexts.rows),
    };

    let item = 0;
    for (const row of whole) {
      const context = contexts.context(row);
      for (let position = 0; position < context.length; position++, item++) {
        batch.rows[item] = row;
        batch.positions[item] = position;
        batch.tokens[item] = context[position];
      }
      batch.outputs[row] = item - 1;
    }
    for (const row of stepped) {
      const context = contexts.context(row);
      batch.rows[item] = row;
      batch.positions[item] = context.length - 1;
      batch.tokens[item] = context[context.length - 1];
      batch.outputs[row] = item;
      item++;
    }
    return batch;
  }

  private lookUpWeights(): DecoderWeights {
    const engine = this.engine;
    const flat = engine.getWeights();
    const host = (name: string): Float32Array => {
      const entry = engine.layout.byName.get(name)!;
      return flat.subarray(entry.offset, entry.offset + entry.size);
    };

    const layers: LayerWeights[] = [];
    for (let layer = 0; layer < engine.config.nLayers; layer++) {
      const name = (suffix: LayerParamName): string => layerParamName(layer, suffix);
      layers.push({
        wqkv: engine.weight(name('wqkv')),
        bqkv: engine.weight(name('bqkv')),
        wo: engine.weight(name('wo')),
        bo: engine.weight(name('bo')),
        w1: engine.weight(name('w1')),
        b1: engine.weight(name('b1')),
        w2: engine.weight(name('w2')),
        b2: engine.weight(name('b2')),
        ln1g: host(name('ln1g')),
        ln1b: host(name('ln1b')),
        ln2g: host(name('ln2g')),
        ln2b: host(name('ln2b')),
      });
    }
    return {
      layers,
      tokEmb: host('tokEmb'),
      posEmb: host('posEmb'),
      lnfG: host('lnfG'),
      lnfB: host('lnfB'),
      head: engine.weight('head'),
    };
  }

  /** Runs every item through the model and returns the (R, V) logits of each row's output item. */
  private forward(batch: ItemBatch): Float32Array {
    const weights = this.weights!;
    const N = batch.count;
    const d = this.d;
    if (this.hidden.length < N * d) {
      this.hidden = new Float32Array(N * d);
      this.attended = new Float32Array(N * d);
    }
    const x = this.hidden.subarray(0, N * d);

    this.embed(batch, weights, x);

    for (let layer = 0; layer < weights.layers.length; layer++) {
      this.layerForward(layer, batch, weights.layers[layer], x);
    }

    return this.headForward(batch, weights, x);
  }

  /** Writes the token plus position embedding of every item into `x`, (N, d). */
  private embed(batch: ItemBatch, weights: DecoderWeights, x: Float32Array): void {
    const d = this.d;
    for (let i = 0; i < batch.count; i++) {
      const tok = batch.tokens[i] * d;
      const pos = batch.positions[i] * d;
      for (let j = 0; j < d; j++) x[i * d + j] = weights.tokEmb[tok + j] + weights.posEmb[pos + j];
    }
  }

  /** Runs one post-norm encoder layer, updating the residual stream `x` (N, d) in place. */
  private layerForward(layer: number, batch: ItemBatch, w: LayerWeights, x: Float32Array): void {
    const N = batch.count;
    const d = this.d;
    const eps = this.engine.config.layerNormEps;

    const qkv = project(x, N, d, w.wqkv, w.bqkv); // (N, 3d)
    this.storeKeysValues(layer, batch, qkv);
    const attended = this.attend(layer, batch, qkv); // (N, d)

    const attentionOut = project(attended, N, d, w.wo, w.bo); // (N, d)
    addAndNormalize(x, attentionOut, w.ln1g, w.ln1b, N, d, eps);

    const feedForwardOut = feedForward(x, N, d, w); // (N, d)
    addAndNormalize(x, feedForwardOut, w.ln2g, w.ln2b, N, d, eps);
  }

  /** Copies each item's key and value into its row's cache slot. */
  private storeKeysValues(layer: number, batch: ItemBatch, qkv: Float32Array): void {
    const d = this.d;
    const keys = this.keys[layer];
    const values = this.values[layer];
    for (let i = 0; i < batch.count; i++) {
      const slot = (batch.rows[i] * this.maxSeqLen + batch.positions[i]) * d;
      keys.set(qkv.subarray(i * 3 * d + d, i * 3 * d + 2 * d), slot);
      values.set(qkv.subarray(i * 3 * d + 2 * d, i * 3 * d + 3 * d), slot);
    }
  }

  /**
   * Computes causal softmax attention of each item's query over its row's cached
   * positions 0 to its own position, head by head. Every item's keys are
   * stored before this runs, so items of one row may come in any order.
   * Returns the merged heads, (N, d).
   */
  private attend(layer: number, batch: ItemBatch, qkv: Float32Array): Float32Array {
    const d = this.d;
    const hs = d / this.engine.config.nHeads;
    const head: HeadSlice = { d, hs, scale: 1 / Math.sqrt(hs), scores: this.scores, sums: this.headSums };
    const out = this.attended.subarray(0, batch.count * d);

    for (let i = 0; i < batch.count; i++) {
      const rowBase = batch.rows[i] * this.maxSeqLen * d;
      for (let offset = 0; offset < d; offset += hs) {
        attendHead(head, qkv, i * 3 * d + offset, this.keys[layer], this.values[layer], rowBase + offset, batch.positions[i], out, i * d + offset);
      }
    }
    return out;
  }

  /** Applies the final LayerNorm and the head to each row's output item only. */
  private headForward(batch: ItemBatch, weights: DecoderWeights, x: Float32Array): Float32Array {
    const d = this.d;
    const R = batch.outputs.length;
    const selected = new Float32Array(R * d);
    for (let row = 0; row < R; row++) {
      const item = batch.outputs[row];
      selected.set(x.subarray(item * d, (item + 1) * d), row * d);
    }
    normalizeRows(selected, weights.lnfG, weights.lnfB, R, d, this.engine.config.layerNormEps);

    const created: tf.Tensor[] = [];
    try {
      const input = track(created, tf.tensor2d(selected, [R, d]));
      return track(created, tf.matMul(input, weights.head)).dataSync() as Float32Array;
    } finally {
      tf.dispose(created);
    }
  }
}

/**
 * Module-level alias of `Math.exp` for the attention loop. Inside a `vm`
 * context, as under Jest, every lookup of the global `Math` is slow: about
 * 10× slower per call in a hot loop (measured with Jest 30 on Node 20).
 */
const exp = Math.exp;

/** Sizes and scratch buffers of {@link attendHead}. */
interface HeadSlice {
  d: number;
  hs: number;
  scale: number;
  scores: Float64Array;
  sums: Float64Array;
}

/**
 * Computes softmax attention of one query over cached positions 0 to `last`
 * of one head and writes it to `out[target .. target + hs)`.
 *
 * @param query - offset of the query in `qkv`.
 * @param first - offset of the head's slice at position 0 in `keys` and `values`. Position t starts t·d floats later.
 */
function attendHead(
  head: HeadSlice,
  qkv: Float32Array,
  query: number,
  keys: Float32Array,
  values: Float32Array,
  first: number,
  last: number,
  out: Float32Array,
  target: number,
): void {
  const { d, hs, scale, scores, sums } = head;
  // Four independent accumulators let the multiply-adds overlap: about 1.5×
  // faster than one for hs = 64 in Node 20. The remainder loop covers hs % 4.
  const unrolled = hs - (hs % 4);

  let max = -Infinity;
  for (let t = 0; t <= last; t++) {
    const key = first + t * d;
    let dot0 = 0;
    let dot1 = 0;
    let dot2 = 0;
    let dot3 = 0;
    for (let j = 0; j < unrolled; j += 4) {
      dot0 += qkv[query + j] * keys[key + j];
      dot1 += qkv[query + j + 1] * keys[key + j + 1];
      dot2 += qkv[query + j + 2] * keys[key + j + 2];
      dot3 += qkv[query + j + 3] * keys[key + j + 3];
    }
    for (let j = unrolled; j < hs; j++) dot0 += qkv[query + j] * keys[key + j];
    const score = (dot0 + dot1 + dot2 + dot3) * scale;
    scores[t] = score;
    if (score > max) max = score;
  }

  let total = 0;
  for (let t = 0; t <= last; t++) {
    scores[t] = exp(scores[t] - max);
    total += scores[t];
  }

  sums.fill(0);
  for (let t = 0; t <= last; t++) {
    const weight = scores[t];
    const value = first + t * d;
    for (let j = 0; j < unrolled; j += 4) {
      sums[j] += weight * values[value + j];
      sums[j + 1] += weight * values[value + j + 1];
      sums[j + 2] += weight * values[value + j + 2];
      sums[j + 3] += weight * values[value + j + 3];
    }
    for (let j = unrolled; j < hs; j++) sums[j] += weight * values[value + j];
  }
  for (let j = 0; j < hs; j++) out[target + j] = sums[j] / total;
}

/**
 * Computes x @ W + b for N rows of x on the backend and reads the result back.
 * These helpers dispose their tensors by hand because `tf.tidy` adds about
 * 8 µs per call on the wasm backend (TensorFlow.js 4.22, measured on a
 * 2-core x86-64 machine), and they run
 * several times per layer on every step.
 */
function project(x: Float32Array, N: number, d: number, weight: tf.Tensor2D, bias: tf.Tensor): Float32Array {
  const created: tf.Tensor[] = [];
  try {
    const input = track(created, tf.tensor2d(x.subarray(0, N * d), [N, d]));
    return track(created, tf.fused.matMul({ a: input, b: weight, bias })).dataSync() as Float32Array;
  } finally {
    tf.dispose(created);
  }
}

/** Computes W2·ReLU(W1 x + b1) + b2 with both matmuls on the backend and one read back. */
function feedForward(x: Float32Array, N: number, d: number, w: LayerWeights): Float32Array {
  const created: tf.Tensor[] = [];
  try {
    const input = track(created, tf.tensor2d(x.subarray(0, N * d), [N, d]));
    const hidden = track(created, tf.fused.matMul({ a: input, b: w.w1, bias: w.b1, activation: 'relu' }));
    return track(created, tf.fused.matMul({ a: hidden, b: w.w2, bias: w.b2 })).dataSync() as Float32Array;
  } finally {
    tf.dispose(created);
  }
}

/** Records a tensor for disposal and returns it. */
function track<T extends tf.Tensor>(created: tf.Tensor[], tensor: T): T {
  created.push(tensor);
  return tensor;
}

/** Replaces x with LayerNorm(x + residual), row by row. */
function addAndNormalize(x: Float32Array, residual: Float32Array, gain: Float32Array, bias: Float32Array, N: number, d: number, eps: number): void {
  for (let i = 0; i < N * d; i++) x[i] += residual[i];
  normalizeRows(x, gain, bias, N, d, eps);
}

/** LayerNorm of each of the N rows of x in place, with the biased variance as PyTorch uses. */
function normalizeRows(x: Float32Array, gain: Float32Array, bias: Float32Array, N: number, d: number, eps: number): void {
  for (let n = 0; n < N; n++) {
    const base = n * d;
    let mean = 0;
    for (let j = 0; j < d; j++) mean += x[base + j];
    mean /= d;

    let variance = 0;
    for (let j = 0; j < d; j++) {
      const centred = x[base + j] - mean;
      variance += centred * centred;
    }
    const rstd = 1 / Math.sqrt(variance / d + eps);

    for (let j = 0; j < d; j++) x[base + j] = (x[base + j] - mean) * rstd * gain[j] + bias[j];
  }
}
