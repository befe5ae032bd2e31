/**
 * Configuration of the Transformer language model.
 */

/** Hyperparameters of the Transformer language model that {@link ModelEngine} runs. */
export interface ModelConfig {
  /** Number of distinct token ids; ids run from 0 to vocabSize − 1. */
  vocabSize: number;
  /** Maximum input length the learned position table covers, in tokens. */
  maxSeqLen: number;
  /** Width of the residual stream. */
  dModel: number;
  /** Attention heads per layer; must divide dModel. */
  nHeads: number;
  /** Encoder layers. */
  nLayers: number;
  /** Hidden width of each feed-forward block. */
  dFF: number;
  /** Dropout probability on attention weights, attention output, feed-forward hidden units and feed-forward output. */
  dropout: number;
  /** Epsilon of every LayerNorm, PyTorch's default. */
  layerNormEps: number;
}

/**
 * Defaults of a small acoustic-unit language model: 4 post-norm encoder
 * layers of width 256 with 4 heads and a 512-wide feed-forward block, the
 * size used in published unit-LM exercises. vocabSize has no default because
 * it comes from the data.
 */
export const DEFAULT_MODEL_CONFIG: Omit<ModelConfig, 'vocabSize'> = {
  maxSeqLen: 64,
  dModel: 256,
  nHeads: 4,
  nLayers: 4,
  dFF: 512,
  dropout: 0.1,
  layerNormEps: 1e-5,
};

/**
 * Fills in defaults and checks a model configuration.
 *
 * @throws {Error} naming the first invalid field, its value and what is allowed.
 */
export function resolveModelConfig(config: Partial<ModelConfig> & { vocabSize: number }): ModelConfig {
  const resolved: ModelConfig = { ...DEFAULT_MODEL_CONFIG, ...config };
  checkModelConfig(resolved);
  return resolved;
}

/**
 * Checks every field of a model configuration.
 *
 * @throws {Error} naming the first invalid field, its value and what is allowed.
 */
export function checkModelConfig(config: ModelConfig): void {
  positiveInteger('vocabSize', config.vocabSize);
  positiveInteger('maxSeqLen', config.maxSeqLen);
  positiveInteger('dModel', config.dModel);
  positiveInteger('nHeads', config.nHeads);
  positiveInteger('nLayers', config.nLayers);
  positiveInteger('dFF', config.dFF);
  if (config.dModel % config.nHeads !== 0) {
    throw new Error(`Invalid model config: dModel (${config.dModel}) must be divisible by nHeads (${config.nHeads}).`);
  }
  if (!(config.dropout >= 0 && config.dropout < 1)) {
    throw new Error(`Invalid model config: dropout must be in [0, 1), received ${config.dropout}.`);
  }
  if (!(config.layerNormEps > 0)) {
    throw new Error(`Invalid model config: layerNormEps must be positive, received ${config.layerNormEps}.`);
  }
}

function positiveInteger(field: string, value: number): void {
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`Invalid model config: ${field} must be a positive integer, received ${String(value)}.`);
  }
}
