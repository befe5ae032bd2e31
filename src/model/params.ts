/**
 * The model's parameters as one flat Float32Array with a named layout.
 *
 * A flat buffer keeps the optimiser, gradient clipping, checkpoints and the
 * data-parallel workers simple: each is a loop over one array, and workers
 * can share it through a SharedArrayBuffer.
 *
 * Matrices are stored in input-major order, shape [in, out], so the forward
 * pass multiplies `x @ W` without a transposed matmul. PyTorch stores the
 * same weights as [out, in].
 */
import { Rng } from '../random.js';
import type { ModelConfig } from './config.js';

/** One named tensor inside the flat parameter buffer. */
export interface ParamEntry {
  /** Tensor name, e.g. `tokEmb` or `layers.0.wqkv`. */
  name: string;
  /** Tensor shape; matrices are [in, out]. */
  shape: number[];
  /** Offset of the first element in the flat buffer. */
  offset: number;
  /** Number of elements. */
  size: number;
}

/** Names and positions of every parameter tensor. */
export interface ParamLayout {
  /** Every tensor in buffer order. */
  entries: ParamEntry[];
  /** The same entries keyed by tensor name. */
  byName: Map<string, ParamEntry>;
  /** Total number of parameters. */
  size: number;
}

/** Names of one encoder layer's tensors, in layout order. */
export const LAYER_PARAM_NAMES = ['wqkv', 'bqkv', 'wo', 'bo', 'ln1g', 'ln1b', 'w1', 'b1', 'w2', 'b2', 'ln2g', 'ln2b'] as const;

/** Suffix of an encoder layer's tensor name. */
export type LayerParamName = (typeof LAYER_PARAM_NAMES)[number];

/** Returns the full name of an encoder layer's tensor, e.g. `layers.0.wqkv`. */
export function layerParamName(layer: number, name: LayerParamName): string {
  return `layers.${layer}.${name}`;
}

/** Builds the parameter layout of a configuration. */
export function buildParamLayout(config: ModelConfig): ParamLayout {
  const { vocabSize: V, maxSeqLen: P, dModel: d, dFF: f } = config;
  const shapes: [string, number[]][] = [
    ['tokEmb', [V, d]],
    ['posEmb', [P, d]],
  ];
  const layerShapes: Record<LayerParamName, number[]> = {
    wqkv: [d, 3 * d],
    bqkv: [3 * d],
    wo: [d, d],
    bo: [d],
    ln1g: [d],
    ln1b: [d],
    w1: [d, f],
    b1: [f],
    w2: [f, d],
    b2: [d],
    ln2g: [d],
    ln2b: [d],
  };
  for (let layer = 0; layer < config.nLayers; layer++) {
    for (const name of LAYER_PARAM_NAMES) {
      shapes.push([layerParamName(layer, name), layerShapes[name]]);
    }
  }
  shapes.push(['lnfG', [d]], ['lnfB', [d]], ['head', [d, V]]);

  const entries: ParamEntry[] = [];
  let offset = 0;
  for (const [name, shape] of shapes) {
    const size = shape.reduce((a, b) => a * b, 1);
    entries.push({ name, shape, offset, size });
    offset += size;
  }
  return { entries, byName: new Map(entries.map((e) => [e.name, e])), size: offset };
}

/** Returns the number of trainable parameters of a configuration. */
export function countParameters(config: ModelConfig): number {
  return buildParamLayout(config).size;
}

/** Returns the view of one named tensor inside a flat buffer. */
export function paramView(layout: ParamLayout, flat: Float32Array, name: string): Float32Array {
  const entry = layout.byName.get(name);
  if (entry === undefined) {
    throw new Error(`Unknown parameter "${name}".`);
  }
  return flat.subarray(entry.offset, entry.offset + entry.size);
}

/**
 * Draws initial weights the way `torch.nn` initialises the same layers by
 * default, so runs compare like with like against PyTorch:
 * - embeddings: N(0, 1);
 * - attention input projection: Xavier-uniform over its [3d, d] matrix, zero bias;
 * - attention output projection: U(±1/√d), zero bias (MultiheadAttention resets it);
 * - feed-forward linears and the head: U(±1/√fan_in) for weights and biases;
 * - LayerNorms: gain 1, bias 0.
 *
 * `nn.TransformerEncoder` deep-copies one layer N times, so every encoder
 * layer starts with identical weights; `identicalLayers` (default true)
 * reproduces that, false draws each layer independently.
 */
export function initParams(
  config: ModelConfig,
  seed: number,
  options: { identicalLayers?: boolean } = {},
): {
  /** Layout of `values`. */
  layout: ParamLayout;
  /** Initial parameters in the flat layout. */
  values: Float32Array;
} {
  const layout = buildParamLayout(config);
  const values = new Float32Array(layout.size);
  const rng = new Rng(seed);
  const d = config.dModel;
  const f = config.dFF;
  const identical = options.identicalLayers ?? true;

  const fillNormal = (name: string): void => {
    const view = paramView(layout, values, name);
    for (let i = 0; i < view.length; i++) view[i] = rng.normal();
  };
  const fillUniform = (name: string, bound: number): void => {
    const view = paramView(layout, values, name);
    for (let i = 0; i < view.length; i++) view[i] = (2 * rng.uniform() - 1) * bound;
  };
  const fillConstant = (name: string, value: number): void => {
    paramView(layout, values, name).fill(value);
  };

  fillNormal('tokEmb');
  fillNormal('posEmb');

  for (let layer = 0; layer < config.nLayers; layer++) {
    const name = (suffix: LayerParamName): string => layerParamName(layer, suffix);
    if (identical && layer > 0) {
      for (const suffix of LAYER_PARAM_NAMES) {
        paramView(layout, values, name(suffix)).set(paramView(layout, values, layerParamName(0, suffix)));
      }
      continue;
    }
    fillUniform(name('wqkv'), Math.sqrt(6 / (d + 3 * d)));
    fillConstant(name('bqkv'), 0);
    fillUniform(name('wo'), 1 / Math.sqrt(d));
    fillConstant(name('bo'), 0);
    fillConstant(name('ln1g'), 1);
    fillConstant(name('ln1b'), 0);
    fillUniform(name('w1'), 1 / Math.sqrt(d));
    fillUniform(name('b1'), 1 / Math.sqrt(d));
    fillUniform(name('w2'), 1 / Math.sqrt(f));
    fillUniform(name('b2'), 1 / Math.sqrt(f));
    fillConstant(name('ln2g'), 1);
    fillConstant(name('ln2b'), 0);
  }

  fillConstant('lnfG', 1);
  fillConstant('lnfB', 0);
  fillUniform('head', 1 / Math.sqrt(d));
  return { layout, values };
}
