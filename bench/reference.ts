/**
 * A straightforward TensorFlow.js implementation of the same model, kept as
 * the yardstick for the library's hand-written passes: weights in PyTorch's
 * (out, in) layout with transposed matmuls as written, embeddings by one-hot
 * matmul, batched attention matmuls and gradients from autodiff.
 *
 * The benchmark measures the library's speed against it, and the tests
 * check the library's loss and gradients against it.
 */
import * as tf from '@tensorflow/tfjs-core';
// The full @tensorflow/tfjs bundle registers the gradient of every op with tfjs-core.
import '@tensorflow/tfjs';

import type { ModelConfig } from '../src/model/config.js';
import { dropoutMask, DropoutSite, type DropoutSpec } from '../src/model/dropout.js';
import type { BatchInput } from '../src/model/engine.js';
import { LAYER_PARAM_NAMES, layerParamName, type ParamLayout } from '../src/model/params.js';

/** Weight matrices the reference keeps in PyTorch's (out, in) layout. */
const TORCH_LAYOUT = new Set(['wqkv', 'wo', 'w1', 'w2', 'head']);

/** Variables of the reference model, named as in the flat layout. */
export type ReferenceVariables = Map<string, tf.Variable>;

let nextModelId = 0;

/** Creates reference variables from a flat parameter buffer. */
export function referenceVariables(layout: ParamLayout, values: Float32Array): ReferenceVariables {
  const variables: ReferenceVariables = new Map();
  // Variable names are global in TensorFlow.js, so each model gets its own prefix.
  const prefix = `reference${nextModelId++}`;
  for (const entry of layout.entries) {
    const suffix = entry.name.split('.').pop()!;
    const data = values.slice(entry.offset, entry.offset + entry.size);
    const tensor = tf.tensor(data, entry.shape);
    const stored = TORCH_LAYOUT.has(suffix) ? tf.transpose(tensor) : tensor;
    variables.set(entry.name, tf.variable(stored, true, `${prefix}/${entry.name}`));
    if (stored !== tensor) tensor.dispose();
    stored.dispose();
  }
  return variables;
}

/** Returns a reference gradient converted back to the flat layout's orientation. */
export function referenceGradToFlat(name: string, grad: tf.Tensor): Float32Array {
  const suffix = name.split('.').pop()!;
  return tf.tidy(() => (TORCH_LAYOUT.has(suffix) ? tf.transpose(grad) : grad).dataSync() as Float32Array);
}

/**
 * Summed cross-entropy of a batch under the reference model. With a dropout spec,
 * dropout masks are drawn in the same order as the library's engine draws
 * them, so both see identical masks.
 */
export function referenceLoss(config: ModelConfig, vars: ReferenceVariables, batch: BatchInput, dropout: DropoutSpec | null): tf.Scalar {
  const { batchSize: B, seqLen: T } = batch;
  const { dModel: d, nHeads: H, vocabSize: V, dropout: p } = config;
  const hs = d / H;
  const v = (name: string): tf.Variable => vars.get(name)!;
  const linear = (x: tf.Tensor2D, w: tf.Tensor, b?: tf.Tensor): tf.Tensor2D => {
    const y = tf.matMul(x, w, false, true);
    return (b === undefined ? y : tf.add(y, b)) as tf.Tensor2D;
  };
  const layerNorm = (x: tf.Tensor2D, g: tf.Tensor, b: tf.Tensor): tf.Tensor2D => {
    const { mean, variance } = tf.moments(x, -1, true);
    return tf.add<tf.Tensor2D>(tf.mul(tf.div(tf.sub(x, mean), tf.sqrt(tf.add(variance, config.layerNormEps))), g), b);
  };

  const inputs = tf.tensor1d(batch.inputs, 'int32');
  const positions = tf.tensor1d(
    Int32Array.from({ length: B * T }, (_, n) => n % T),
    'int32',
  );
  let x = tf.add<tf.Tensor2D>(
    tf.matMul(tf.cast(tf.oneHot(inputs, V), 'float32'), v('tokEmb')),
    tf.matMul(tf.cast(tf.oneHot(positions, config.maxSeqLen), 'float32'), v('posEmb')),
  );

  const maskValues = new Float32Array(T * T);
  for (let i = 0; i < T; i++) for (let j = i + 1; j < T; j++) maskValues[i * T + j] = Number.NEGATIVE_INFINITY;
  const causal = tf.tensor2d(maskValues, [T, T]);

  for (let layer = 0; layer < config.nLayers; layer++) {
    const drop = (site: DropoutSite, shape: number[]): tf.Tensor | null =>
      dropout !== null && p > 0 ? tf.tensor(dropoutMask(dropout, layer, site, B, shape.reduce((a, b) => a * b, 1) / B, p), shape) : null;
    const w = (suffix: (typeof LAYER_PARAM_NAMES)[number]): tf.Variable => v(layerParamName(layer, suffix));
    const qkv = tf.reshape(linear(x, w('wqkv'), w('bqkv')), [B, T, 3, H, hs]);
    const part = (index: number): tf.Tensor4D =>
      tf.transpose(tf.squeeze(tf.slice(qkv, [0, 0, index, 0, 0], [B, T, 1, H, hs]), [2]), [0, 2, 1, 3]) as tf.Tensor4D;
    const q = tf.mul(part(0), 1 / Math.sqrt(hs));
    const k = part(1);
    const value = part(2);
    let att: tf.Tensor = tf.softmax(tf.add(tf.matMul(q, k, false, true), causal));
    const attMask = drop(DropoutSite.AttentionWeights, [B, H, T, T]);
    if (attMask !== null) att = tf.mul(att, attMask);
    const mixed = tf.reshape<tf.Rank.R2>(tf.transpose(tf.matMul(att as tf.Tensor4D, value), [0, 2, 1, 3]), [B * T, d]);

    let projected: tf.Tensor = linear(mixed, w('wo'), w('bo'));
    const mask1 = drop(DropoutSite.AttentionOutput, [B * T, d]);
    if (mask1 !== null) projected = tf.mul(projected, mask1);
    const y1 = layerNorm(tf.add<tf.Tensor2D>(x, projected), w('ln1g'), w('ln1b'));

    let hidden: tf.Tensor = tf.relu(linear(y1, w('w1'), w('b1')));
    const hiddenMask = drop(DropoutSite.Hidden, [B * T, config.dFF]);
    if (hiddenMask !== null) hidden = tf.mul(hidden, hiddenMask);
    let ff: tf.Tensor = linear(hidden as tf.Tensor2D, w('w2'), w('b2'));
    const mask2 = drop(DropoutSite.FeedForwardOutput, [B * T, d]);
    if (mask2 !== null) ff = tf.mul(ff, mask2);
    x = layerNorm(tf.add<tf.Tensor2D>(y1, ff), w('ln2g'), w('ln2b'));
  }

  const logits = linear(layerNorm(x, v('lnfG'), v('lnfB')), v('head'));
  const logProbs = tf.logSoftmax(logits);
  const scored = Int32Array.from(batch.targets, (t) => (t < 0 ? 0 : t));
  const weights = Float32Array.from(batch.targets, (t) => (t < 0 ? 0 : 1));
  const picked = tf.sum(tf.mul(logProbs, tf.cast(tf.oneHot(tf.tensor1d(scored, 'int32'), V), 'float32')), -1);
  return tf.neg(tf.sum(tf.mul(picked, tf.tensor1d(weights)))) as tf.Scalar;
}

/**
 * Runs one reference forward and backward pass and returns the summed loss
 * and the gradient in the flat layout.
 */
export function referenceGradients(
  config: ModelConfig,
  layout: ParamLayout,
  vars: ReferenceVariables,
  batch: BatchInput,
  dropout: DropoutSpec | null,
): { lossSum: number; grads: Float32Array } {
  const names = layout.entries.map((e) => e.name);
  const { value, grads } = tf.variableGrads(
    () => referenceLoss(config, vars, batch, dropout),
    names.map((n) => vars.get(n)!),
  );
  const flat = new Float32Array(layout.size);
  for (const entry of layout.entries) {
    const grad = grads[vars.get(entry.name)!.name];
    flat.set(referenceGradToFlat(entry.name, grad), entry.offset);
  }
  const lossSum = value.dataSync()[0];
  tf.dispose([value, ...Object.values(grads)]);
  return { lossSum, grads: flat };
}
