/**
 * Forward and backward passes of the Transformer language model, written
 * out by hand on TensorFlow.js ops.
 *
 * The architecture is PyTorch's `nn.TransformerEncoder` in its default form
 * under a causal mask: learned token and position embeddings, post-norm
 * encoder layers (x = LN(x + Dropout(SelfAttention(x))), then
 * x = LN(x + Dropout(FF(x))) with a ReLU feed-forward block), a final
 * LayerNorm and a bias-free output head.
 *
 * Writing the backward pass by hand instead of using autodiff lets every
 * matmul run untransposed (transposed matmuls are over 10× slower on the
 * WebAssembly backend), keeps embeddings and the loss in JavaScript (the
 * gradient of `gather` has no WebAssembly kernel), and splits attention into
 * per-head 2-D matmuls that reach the fast XNNPACK path. Tests check every
 * gradient against autodiff of a plain implementation.
 *
 * Shapes: B batch, T time, N = B·T rows, d model width, H heads, hs head
 * size, f feed-forward width, V vocabulary.
 */
import * as tf from '@tensorflow/tfjs-core';

import type { ModelConfig } from './config.js';
import { dropoutMask, DropoutSite, type DropoutSpec } from './dropout.js';
import { mergeHeads, mergeQkv, splitHeads, splitRowsToHeads, transposeBlocks, type HeadArrays } from './layout.js';
import { layerParamName, type ParamLayout } from './params.js';
import { createWasmBlockMatMul, type BlockMatMul } from './wasmMatMul.js';

/** Execution strategy of attention's per-head matmuls. */
export type AttentionStrategy = 'split' | 'batched';

/** One batch of windows: ids laid out row-major as (B, T). */
export interface BatchInput {
  /** Input ids, (B, T). */
  inputs: Int32Array;
  /** Target ids, (B, T); −1 marks a position without loss (padding). */
  targets: Int32Array;
  /** Number of windows B. */
  batchSize: number;
  /** Window length T in tokens. */
  seqLen: number;
}

/** Sums over the scored positions of a batch. */
export interface BatchScores {
  /** Sum of cross-entropies, in nats. */
  lossSum: number;
  /** Number of scored positions. */
  tokens: number;
  /** Scored positions whose argmax prediction equals the target. */
  correct: number;
}

/** Scores and the gradient of the summed loss. */
export interface GradientResult extends BatchScores {
  /** Gradient of `lossSum` with respect to every parameter, in the flat layout. */
  grads: Float32Array;
}

/** Per-position details of an evaluation pass. */
export interface EvaluationDetail extends BatchScores {
  /** Scored positions whose target is among the 5 largest logits. */
  top5: number;
  /** Loss of each scored position, −1 where unscored; (B, T). */
  losses: Float32Array;
}

interface LayerNormSaved {
  xhat: tf.Tensor2D;
  rstd: tf.Tensor2D;
}

interface LayerSaved {
  x: tf.Tensor2D;
  heads: HeadArrays;
  att: tf.Tensor2D;
  attMask: tf.Tensor2D | null;
  attDroppedT: Float32Array;
  merged: Float32Array;
  mask1: tf.Tensor2D | null;
  ln1: LayerNormSaved;
  y1: tf.Tensor2D;
  hidden: tf.Tensor2D;
  hiddenGate: tf.Tensor2D;
  mask2: tf.Tensor2D | null;
  ln2: LayerNormSaved;
}

const TRANSPOSED = ['wqkv', 'wo', 'w1', 'w2'] as const;

/**
 * Holds a model's weights on the active backend and runs its passes.
 *
 * Call {@link ModelEngine.setWeights} after every parameter update and
 * {@link ModelEngine.dispose} when done; the engine owns its tensors.
 */
export class ModelEngine {
  /** Hyperparameters of the model. */
  readonly config: ModelConfig;
  /** Layout of the flat parameter buffer. */
  readonly layout: ParamLayout;
  /** Strategy of attention's per-head matmuls. */
  readonly attention: AttentionStrategy;
  private weights = new Map<string, tf.Tensor>();
  private host: Float32Array = new Float32Array(0);
  private causalMask: tf.Tensor2D | null = null;
  private causalMaskLength = 0;
  /** Direct kernel calls for the split strategy on WebAssembly, or null on other backends. */
  private readonly blockMatMul: BlockMatMul | null;

  /**
   * @param options.attention - `'split'` runs each head's matmul separately (fast on
   *   WebAssembly); `'batched'` uses one batched matmul (fast on native and
   *   GPU backends). Default: `'split'` on the wasm backend, else `'batched'`.
   * @param options.directKernels - with `'split'` on the wasm backend, call the
   *   backend's matmul kernel directly for the per-head products (see
   *   `wasmMatMul.ts`). Default true; false keeps them on `tf.matMul`.
   */
  constructor(config: ModelConfig, layout: ParamLayout, options: { attention?: AttentionStrategy; directKernels?: boolean } = {}) {
    this.config = config;
    this.layout = layout;
    this.attention = options.attention ?? (tf.getBackend() === 'wasm' ? 'split' : 'batched');
    this.blockMatMul = this.attention === 'split' && options.directKernels !== false ? createWasmBlockMatMul() : null;
  }

  /** True when the per-head products call the WebAssembly kernel directly. */
  get usesDirectKernels(): boolean {
    return this.blockMatMul !== null;
  }

  /** Uploads a copy of the flat parameter buffer to the backend. */
  setWeights(values: Float32Array): void {
    if (values.length !== this.layout.size) {
      throw new Error(`Expected ${this.layout.size} parameters for this model, received ${values.length}.`);
    }
    this.disposeWeights();
    this.host = values.slice();

    for (const entry of this.layout.entries) {
      const data = this.host.subarray(entry.offset, entry.offset + entry.size);
      this.weights.set(entry.name, tf.tensor(data.slice(), entry.shape));
    }
    for (let layer = 0; layer < this.config.nLayers; layer++) {
      for (const suffix of TRANSPOSED) {
        this.addTransposed(layerParamName(layer, suffix));
      }
    }
    this.addTransposed('head');
  }

  /** Returns the flat parameter buffer last uploaded (a copy the engine keeps). */
  getWeights(): Float32Array {
    return this.host;
  }

  /** Frees every tensor the engine holds. */
  dispose(): void {
    this.disposeWeights();
    if (this.causalMask !== null) {
      this.causalMask.dispose();
      this.causalMask = null;
    }
  }

  /**
   * Runs a training forward and backward pass with dropout.
   *
   * @param dropout - seed and global row offset of the step's dropout masks.
   * @returns scores and the gradient of the summed loss (divide by the token
   *   count of the whole batch for the mean).
   */
  forwardBackward(batch: BatchInput, dropout: DropoutSpec): GradientResult {
    checkBatch(batch, this.config);
    const { batchSize: B, seqLen: T } = batch;
    const grads = new Float32Array(this.layout.size);
    const saved: LayerSaved[] = [];
    let x = tf.tensor2d(this.embed(batch), [B * T, this.config.dModel]);

    try {
      for (let layer = 0; layer < this.config.nLayers; layer++) {
        const result = this.layerForward(layer, x, B, T, dropout);
        saved.push(result.saved);
        x = result.out;
      }

      const final = this.layerNormForward(x, 'lnfG', 'lnfB');
      const logits = tf.matMul(final.y, this.weight('head'));
      const logitValues = logits.dataSync() as Float32Array;
      logits.dispose();
      const scored = scoreLogits(logitValues, batch.targets, this.config.vocabSize, true);

      const dFinal = tf.tidy(() => {
        const dLogits = tf.tensor2d(scored.dLogits!, [B * T, this.config.vocabSize]);
        this.writeGrad(grads, 'head', tf.matMul(transpose2d(final.y), dLogits));
        return tf.matMul<tf.Tensor2D>(dLogits, this.weight('head.T'));
      });
      let dx = this.layerNormBackward(dFinal, final.saved, 'lnfG', 'lnfB', grads);
      tf.dispose([dFinal, final.y, final.saved.xhat, final.saved.rstd]);
      x.dispose();

      for (let layer = this.config.nLayers - 1; layer >= 0; layer--) {
        const next = this.layerBackward(layer, dx, saved[layer], B, T, grads);
        dx.dispose();
        dx = next;
      }
      this.embedBackward(dx.dataSync() as Float32Array, batch, grads);
      dx.dispose();

      return { lossSum: scored.lossSum, tokens: scored.tokens, correct: scored.correct, grads };
    } finally {
      for (const entry of saved) disposeSaved(entry);
    }
  }

  /** Runs an evaluation forward pass (no dropout) and returns its scores. */
  evaluate(batch: BatchInput): EvaluationDetail {
    const logits = this.logits(batch);
    return scoreEvaluation(logits, batch.targets, this.config.vocabSize);
  }

  /**
   * Returns the logits of every position, (B, T, V) row-major, computed
   * without dropout.
   */
  logits(batch: BatchInput): Float32Array {
    checkBatch(batch, this.config);
    const { batchSize: B, seqLen: T } = batch;
    let x = tf.tensor2d(this.embed(batch), [B * T, this.config.dModel]);
    for (let layer = 0; layer < this.config.nLayers; layer++) {
      const result = this.layerForward(layer, x, B, T, null);
      disposeSaved(result.saved);
      x = result.out;
    }
    const values = tf.tidy(() => {
      const final = this.layerNormForward(x, 'lnfG', 'lnfB');
      return tf.matMul(final.y, this.weight('head'));
    });
    x.dispose();
    const data = values.dataSync() as Float32Array;
    values.dispose();
    return data;
  }

  /** Returns a weight tensor by name; `NAME.T` is its transpose. */
  weight(name: string): tf.Tensor2D {
    const tensor = this.weights.get(name);
    if (tensor === undefined) {
      throw new Error(`Weights not loaded: call setWeights before running the model (missing "${name}").`);
    }
    return tensor as tf.Tensor2D;
  }

  private addTransposed(name: string): void {
    const entry = this.layout.byName.get(name)!;
    const [rows, cols] = entry.shape;
    const data = transposeBlocks(this.host.subarray(entry.offset, entry.offset + entry.size), 1, rows, cols);
    this.weights.set(`${name}.T`, tf.tensor2d(data, [cols, rows]));
  }

  private disposeWeights(): void {
    for (const tensor of this.weights.values()) tensor.dispose();
    this.weights.clear();
  }

  /** Token plus position embedding of every input, (N, d). */
  private embed(batch: BatchInput): Float32Array {
    const d = this.config.dModel;
    const tok = this.layout.byName.get('tokEmb')!.offset;
    const pos = this.layout.byName.get('posEmb')!.offset;
    const out = new Float32Array(batch.inputs.length * d);
    for (let n = 0; n < batch.inputs.length; n++) {
      const t = n % batch.seqLen;
      const tokBase = tok + batch.inputs[n] * d;
      const posBase = pos + t * d;
      const dst = n * d;
      for (let i = 0; i < d; i++) out[dst + i] = this.host[tokBase + i] + this.host[posBase + i];
    }
    return out;
  }

  private embedBackward(dx: Float32Array, batch: BatchInput, grads: Float32Array): void {
    const d = this.config.dModel;
    const tok = this.layout.byName.get('tokEmb')!.offset;
    const pos = this.layout.byName.get('posEmb')!.offset;
    for (let n = 0; n < batch.inputs.length; n++) {
      const tokBase = tok + batch.inputs[n] * d;
      const posBase = pos + (n % batch.seqLen) * d;
      const src = n * d;
      for (let i = 0; i < d; i++) {
        grads[tokBase + i] += dx[src + i];
        grads[posBase + i] += dx[src + i];
      }
    }
  }

  private mask(T: number): tf.Tensor2D {
    if (this.causalMask === null || this.causalMaskLength !== T) {
      this.causalMask?.dispose();
      const values = new Float32Array(T * T);
      for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) values[i * T + j] = Number.NEGATIVE_INFINITY;
      // Kept outside any tidy scope: the engine owns it until dispose().
      this.causalMask = tf.keep(tf.tensor2d(values, [T, T]));
      this.causalMaskLength = T;
    }
    return this.causalMask;
  }

  /** (count·m, n) product of `count` pairs of (m, k) and (k, n) blocks, as a tensor. */
  private headMatMul(a: Float32Array, b: Float32Array, count: number, m: number, k: number, n: number): tf.Tensor2D {
    if (this.blockMatMul !== null) return tf.tensor2d(this.blockMatMul(a, b, count, m, k, n), [count * m, n]);
    return tf.tidy(() => {
      if (this.attention === 'batched') {
        return tf.reshape<tf.Rank.R2>(tf.matMul(tf.tensor3d(a, [count, m, k]), tf.tensor3d(b, [count, k, n])), [count * m, n]);
      }
      const parts: tf.Tensor2D[] = [];
      for (let c = 0; c < count; c++) {
        const left = tf.tensor2d(a.subarray(c * m * k, (c + 1) * m * k), [m, k]);
        const right = tf.tensor2d(b.subarray(c * k * n, (c + 1) * k * n), [k, n]);
        parts.push(tf.matMul(left, right));
      }
      return tf.concat(parts, 0);
    });
  }

  /** Computes the same product as {@link headMatMul} and returns it as a JavaScript array. */
  private headProducts(a: Float32Array, b: Float32Array, count: number, m: number, k: number, n: number): Float32Array {
    if (this.blockMatMul !== null) return this.blockMatMul(a, b, count, m, k, n);
    return this.readAndDispose(this.headMatMul(a, b, count, m, k, n));
  }

  private layerForward(layer: number, x: tf.Tensor2D, B: number, T: number, dropout: DropoutSpec | null): { out: tf.Tensor2D; saved: LayerSaved } {
    const { dModel: d, nHeads: H, dropout: p } = this.config;
    const hs = d / H;
    const w = (suffix: Parameters<typeof layerParamName>[1]): tf.Tensor => this.weight(layerParamName(layer, suffix));
    const drop = dropout !== null && p > 0;

    // Self-attention: fused projection, then per-head scores and mixing.
    const qkvTensor = tf.fused.matMul({ a: x, b: w('wqkv'), bias: w('bqkv') });
    const qkv = qkvTensor.dataSync() as Float32Array;
    qkvTensor.dispose();
    const heads = splitHeads(qkv, B, T, H, hs, 1 / Math.sqrt(hs));

    const att = tf.tidy(() => {
      const scores = this.headMatMul(heads.q, heads.kT, B * H, T, hs, T); // (B·H·T, T)
      const probabilities = tf.softmax(tf.add(tf.reshape(scores, [B * H, T, T]), this.mask(T)));
      return tf.reshape<tf.Rank.R2>(probabilities, [B * H * T, T]);
    });
    const attMask = drop ? tf.tensor2d(dropoutMask(dropout, layer, DropoutSite.AttentionWeights, B, H * T * T, p), [B * H * T, T]) : null;
    const attDroppedTensor = attMask === null ? att : tf.mul(att, attMask);
    const attDropped = attDroppedTensor.dataSync() as Float32Array;
    if (attDroppedTensor !== att) attDroppedTensor.dispose();

    const mixed = this.headProducts(attDropped, heads.v, B * H, T, T, hs); // (B·H·T, hs)
    const merged = mergeHeads(mixed, B, T, H, hs); // (N, d)

    const mask1 = drop ? tf.tensor2d(dropoutMask(dropout, layer, DropoutSite.AttentionOutput, B, T * d, p), [B * T, d]) : null;
    const r1 = tf.tidy(() => {
      const projected = tf.fused.matMul({ a: tf.tensor2d(merged, [B * T, d]), b: w('wo'), bias: w('bo') });
      return tf.add<tf.Tensor2D>(x, mask1 === null ? projected : tf.mul(projected, mask1));
    });
    const ln1 = this.layerNormForward(r1, layerParamName(layer, 'ln1g'), layerParamName(layer, 'ln1b'));
    r1.dispose();

    // Feed-forward block.
    const hiddenMask = drop ? tf.tensor2d(dropoutMask(dropout, layer, DropoutSite.Hidden, B, T * this.config.dFF, p), [B * T, this.config.dFF]) : null;
    const mask2 = drop ? tf.tensor2d(dropoutMask(dropout, layer, DropoutSite.FeedForwardOutput, B, T * d, p), [B * T, d]) : null;
    const ff = tf.tidy(() => {
      const activated = tf.fused.matMul({ a: ln1.y, b: w('w1'), bias: w('b1'), activation: 'relu' });
      const gate = hiddenMask === null ? tf.step(activated) : tf.mul(tf.step(activated), hiddenMask);
      const hidden = hiddenMask === null ? activated : tf.mul(activated, hiddenMask);
      const projected = tf.fused.matMul({ a: hidden, b: w('w2'), bias: w('b2') });
      const r2 = tf.add(ln1.y, mask2 === null ? projected : tf.mul(projected, mask2));
      return { hidden: hidden as tf.Tensor2D, gate: gate as tf.Tensor2D, r2: r2 as tf.Tensor2D };
    });
    hiddenMask?.dispose();
    const ln2 = this.layerNormForward(ff.r2, layerParamName(layer, 'ln2g'), layerParamName(layer, 'ln2b'));
    ff.r2.dispose();

    const saved: LayerSaved = {
      x,
      heads,
      att,
      attMask,
      attDroppedT: transposeBlocks(attDropped, B * H, T, T),
      merged,
      mask1,
      ln1: ln1.saved,
      y1: ln1.y,
      hidden: ff.hidden,
      hiddenGate: ff.gate,
      mask2,
      ln2: ln2.saved,
    };
    return { out: ln2.y, saved };
  }

  private layerBackward(layer: number, dOut: tf.Tensor2D, s: LayerSaved, B: number, T: number, grads: Float32Array): tf.Tensor2D {
    const { dModel: d, nHeads: H } = this.config;
    const hs = d / H;
    const name = (suffix: Parameters<typeof layerParamName>[1]): string => layerParamName(layer, suffix);

    // Second residual block: y2 = LN2(y1 + Dropout(FF(y1))).
    const dR2 = this.layerNormBackward(dOut, s.ln2, name('ln2g'), name('ln2b'), grads);
    const dY1 = tf.tidy(() => {
      const dProjected = s.mask2 === null ? dR2 : tf.mul(dR2, s.mask2);
      this.writeGrad(grads, name('w2'), tf.matMul(transpose2d(s.hidden), dProjected));
      this.writeGrad(grads, name('b2'), columnSum(dProjected));
      const dHidden = tf.mul(tf.matMul(dProjected, this.weight(`${name('w2')}.T`)), s.hiddenGate);
      this.writeGrad(grads, name('w1'), tf.matMul(transpose2d(s.y1), dHidden));
      this.writeGrad(grads, name('b1'), columnSum(dHidden));
      return tf.add<tf.Tensor2D>(dR2, tf.matMul(dHidden, this.weight(`${name('w1')}.T`)));
    });
    dR2.dispose();

    // First residual block: y1 = LN1(x + Dropout(SelfAttention(x))).
    const dR1 = this.layerNormBackward(dY1, s.ln1, name('ln1g'), name('ln1b'), grads);
    dY1.dispose();
    const dMergedTensor = tf.tidy(() => {
      const dProjected = s.mask1 === null ? dR1 : tf.mul(dR1, s.mask1);
      const mergedT = tf.tensor2d(transposeBlocks(s.merged, 1, B * T, d), [d, B * T]);
      this.writeGrad(grads, name('wo'), tf.matMul(mergedT, dProjected));
      this.writeGrad(grads, name('bo'), columnSum(dProjected));
      return tf.matMul(dProjected, this.weight(`${name('wo')}.T`));
    });
    const dMixed = splitRowsToHeads(dMergedTensor.dataSync() as Float32Array, B, T, H, hs); // (B, H, T, hs)
    dMergedTensor.dispose();

    const dScoresTensor = tf.tidy(() => {
      const dAttDropped = this.headMatMul(dMixed, s.heads.vT, B * H, T, hs, T); // (B·H·T, T)
      const dAtt = s.attMask === null ? dAttDropped : tf.mul(dAttDropped, s.attMask);
      const inner = tf.sum(tf.mul(dAtt, s.att), -1, true);
      return tf.mul(s.att, tf.sub(dAtt, inner));
    });
    const dScores = dScoresTensor.dataSync() as Float32Array;
    dScoresTensor.dispose();
    const dScoresT = transposeBlocks(dScores, B * H, T, T);

    const dv = this.headProducts(s.attDroppedT, dMixed, B * H, T, T, hs);
    const dq = this.headProducts(dScores, s.heads.k, B * H, T, T, hs);
    const dk = this.headProducts(dScoresT, s.heads.q, B * H, T, T, hs);
    // The scores used q·(1/√hs), so the gradient of the unscaled q carries the same factor.
    const scale = 1 / Math.sqrt(hs);
    for (let i = 0; i < dq.length; i++) dq[i] *= scale;
    const dQkv = mergeQkv(dq, dk, dv, B, T, H, hs); // (N, 3d)

    const dx = tf.tidy(() => {
      const dQkvTensor = tf.tensor2d(dQkv, [B * T, 3 * d]);
      this.writeGrad(grads, name('wqkv'), tf.matMul(transpose2d(s.x), dQkvTensor));
      this.writeGrad(grads, name('bqkv'), columnSum(dQkvTensor));
      return tf.add<tf.Tensor2D>(dR1, tf.matMul(dQkvTensor, this.weight(`${name('wqkv')}.T`)));
    });
    dR1.dispose();
    return dx;
  }

  private layerNormForward(x: tf.Tensor2D, gain: string, bias: string): { y: tf.Tensor2D; saved: LayerNormSaved } {
    return tf.tidy(() => {
      const mean = tf.mean(x, -1, true);
      const centred = tf.sub(x, mean);
      const variance = tf.mean(tf.square(centred), -1, true);
      const rstd = tf.rsqrt(tf.add(variance, this.config.layerNormEps)) as tf.Tensor2D;
      const xhat = tf.mul<tf.Tensor2D>(centred, rstd);
      const y = tf.add<tf.Tensor2D>(tf.mul(xhat, this.weight(gain)), this.weight(bias));
      return { y, saved: { xhat, rstd } };
    });
  }

  private layerNormBackward(dy: tf.Tensor2D, saved: LayerNormSaved, gain: string, bias: string, grads: Float32Array): tf.Tensor2D {
    return tf.tidy(() => {
      this.writeGrad(grads, gain, columnSum(tf.mul(dy, saved.xhat)));
      this.writeGrad(grads, bias, columnSum(dy));
      const dxhat = tf.mul(dy, this.weight(gain));
      const meanDxhat = tf.mean(dxhat, -1, true);
      const meanDxhatXhat = tf.mean(tf.mul(dxhat, saved.xhat), -1, true);
      return tf.mul<tf.Tensor2D>(saved.rstd, tf.sub(tf.sub(dxhat, meanDxhat), tf.mul(saved.xhat, meanDxhatXhat)));
    });
  }

  private writeGrad(grads: Float32Array, name: string, value: tf.Tensor): void {
    const entry = this.layout.byName.get(name)!;
    const data = value.dataSync() as Float32Array;
    if (data.length !== entry.size) {
      throw new Error(`Internal error: gradient of ${name} has ${data.length} values, expected ${entry.size}.`);
    }
    grads.set(data, entry.offset);
  }

  private readAndDispose(tensor: tf.Tensor): Float32Array {
    const data = tensor.dataSync() as Float32Array;
    tensor.dispose();
    return data;
  }
}

/** Column sums of a (rows, cols) matrix as a (1, cols) matmul, faster than `sum(axis 0)` on WebAssembly. */
function columnSum(x: tf.Tensor): tf.Tensor {
  const rows = x.shape[0];
  return tf.matMul(tf.ones([1, rows]), x);
}

/**
 * Transposes a (rows, cols) matrix. On WebAssembly a 3-D transpose of
 * (rows, cols/c, c) to (cols/c, c, rows) is several times faster than the
 * 2-D kernel, so the columns are split into chunks when they divide evenly.
 */
export function transpose2d(x: tf.Tensor2D): tf.Tensor2D {
  const [rows, cols] = x.shape;
  for (const chunk of [64, 32, 16, 8]) {
    if (cols % chunk === 0 && cols > chunk) {
      return tf.reshape(tf.transpose(tf.reshape(x, [rows, cols / chunk, chunk]), [1, 2, 0]), [cols, rows]);
    }
  }
  return tf.transpose(x);
}

function checkBatch(batch: BatchInput, config: ModelConfig): void {
  const { batchSize: B, seqLen: T } = batch;
  if (T > config.maxSeqLen) {
    throw new Error(`Window length ${T} exceeds the model's maxSeqLen ${config.maxSeqLen}; use a seqLen of at most ${config.maxSeqLen}.`);
  }
  if (batch.inputs.length !== B * T || batch.targets.length !== B * T) {
    throw new Error(`Batch arrays must hold batchSize × seqLen = ${B * T} ids, received ${batch.inputs.length} inputs and ${batch.targets.length} targets.`);
  }
  for (let i = 0; i < batch.inputs.length; i++) {
    const id = batch.inputs[i];
    if (id < 0 || id >= config.vocabSize) {
      throw new Error(`Token id ${id} is outside the model's vocabulary [0, ${config.vocabSize - 1}].`);
    }
    const target = batch.targets[i];
    if (target < -1 || target >= config.vocabSize) {
      throw new Error(`Target id ${target} is outside the model's vocabulary [0, ${config.vocabSize - 1}].`);
    }
  }
}

interface LogitScores extends BatchScores {
  dLogits: Float32Array | null;
}

/**
 * Cross-entropy, accuracy and, when asked, the gradient of the summed loss
 * with respect to the logits (softmax minus one-hot), computed in float64.
 */
export function scoreLogits(logits: Float32Array, targets: Int32Array, V: number, withGradient: boolean): LogitScores {
  const dLogits = withGradient ? new Float32Array(logits.length) : null;
  let lossSum = 0;
  let tokens = 0;
  let correct = 0;

  for (let n = 0; n < targets.length; n++) {
    const target = targets[n];
    if (target < 0) continue;
    const base = n * V;
    let max = Number.NEGATIVE_INFINITY;
    let argmax = 0;
    for (let v = 0; v < V; v++) {
      const value = logits[base + v];
      if (value > max) {
        max = value;
        argmax = v;
      }
    }
    let sum = 0;
    for (let v = 0; v < V; v++) sum += Math.exp(logits[base + v] - max);
    const logZ = max + Math.log(sum);
    lossSum += logZ - logits[base + target];
    tokens += 1;
    if (argmax === target) correct += 1;

    if (dLogits !== null) {
      for (let v = 0; v < V; v++) dLogits[base + v] = Math.exp(logits[base + v] - logZ);
      dLogits[base + target] -= 1;
    }
  }
  return { lossSum, tokens, correct, dLogits };
}

/** Scores every position of an evaluation pass, with top-5 hits and per-position losses. */
export function scoreEvaluation(logits: Float32Array, targets: Int32Array, V: number): EvaluationDetail {
  const losses = new Float32Array(targets.length).fill(-1);
  let lossSum = 0;
  let tokens = 0;
  let correct = 0;
  let top5 = 0;

  for (let n = 0; n < targets.length; n++) {
    const target = targets[n];
    if (target < 0) continue;
    const base = n * V;
    let max = Number.NEGATIVE_INFINITY;
    let argmax = 0;
    for (let v = 0; v < V; v++) {
      if (logits[base + v] > max) {
        max = logits[base + v];
        argmax = v;
      }
    }
    let sum = 0;
    let above = 0;
    const targetLogit = logits[base + target];
    for (let v = 0; v < V; v++) {
      const value = logits[base + v];
      sum += Math.exp(value - max);
      // Ties with the target count against it, so a constant output never scores a top-5 hit by luck.
      if (value > targetLogit || (value === targetLogit && v < target)) above += 1;
    }
    const loss = max + Math.log(sum) - targetLogit;
    losses[n] = loss;
    lossSum += loss;
    tokens += 1;
    if (argmax === target) correct += 1;
    if (above < 5) top5 += 1;
  }
  return { lossSum, tokens, correct, top5, losses };
}

function disposeSaved(s: LayerSaved): void {
  tf.dispose([s.x, s.att, s.y1, s.hidden, s.hiddenGate, s.ln1.xhat, s.ln1.rstd, s.ln2.xhat, s.ln2.rstd]);
  if (s.attMask !== null) s.attMask.dispose();
  if (s.mask1 !== null) s.mask1.dispose();
  if (s.mask2 !== null) s.mask2.dispose();
}
