/**
 * AdamW over a flat parameter buffer, with PyTorch's defaults and update
 * order, plus global-norm gradient clipping.
 */

/** Hyperparameters of {@link AdamW}. */
export interface AdamWOptions {
  /** Learning rate. Default 3e-4. */
  lr: number;
  /** Decay of the first-moment estimate. Default 0.9. */
  beta1: number;
  /** Decay of the second-moment estimate. Default 0.999. */
  beta2: number;
  /** Added to the denominator for numerical stability. Default 1e-8. */
  eps: number;
  /** Decoupled weight decay, applied to every parameter as `p -= lr·wd·p`. Default 0.01. */
  weightDecay: number;
}

/** PyTorch's `torch.optim.AdamW` defaults, with lr 3e-4. */
export const DEFAULT_ADAMW: AdamWOptions = { lr: 3e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 };

/** AdamW state: first and second moments and the step count. */
export class AdamW {
  /** Hyperparameters after defaults. */
  readonly options: AdamWOptions;
  /** First-moment estimate of each parameter. */
  m: Float32Array;
  /** Second-moment estimate of each parameter. */
  v: Float32Array;
  /** Number of updates applied so far. */
  step = 0;

  constructor(size: number, options: Partial<AdamWOptions> = {}) {
    this.options = { ...DEFAULT_ADAMW, ...options };
    this.m = new Float32Array(size);
    this.v = new Float32Array(size);
  }

  /**
   * Applies one update in place, in `torch.optim.AdamW`'s order: decay the
   * weights, update the moments, then step by lr/(1−β1^t) · m / (√v/√(1−β2^t) + eps).
   *
   * @param lr - learning rate of this step; default the configured one.
   */
  update(params: Float32Array, grads: Float32Array, lr: number = this.options.lr): void {
    if (params.length !== this.m.length || grads.length !== this.m.length) {
      throw new Error(`AdamW was built for ${this.m.length} parameters, received ${params.length} parameters and ${grads.length} gradients.`);
    }
    const { beta1, beta2, eps, weightDecay } = this.options;
    this.step += 1;
    const bias1 = 1 - beta1 ** this.step;
    const sqrtBias2 = Math.sqrt(1 - beta2 ** this.step);
    const stepSize = lr / bias1;
    const decay = 1 - lr * weightDecay;
    const { m, v } = this;

    for (let i = 0; i < params.length; i++) {
      const g = grads[i];
      const mi = beta1 * m[i] + (1 - beta1) * g;
      const vi = beta2 * v[i] + (1 - beta2) * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] = params[i] * decay - (stepSize * mi) / (Math.sqrt(vi) / sqrtBias2 + eps);
    }
  }
}

/**
 * Scales gradients in place so their global L2 norm is at most `maxNorm`,
 * as `torch.nn.utils.clip_grad_norm_` does (coefficient maxNorm/(norm + 1e-6)).
 *
 * @returns the norm before clipping (non-finite when any gradient is).
 */
export function clipGradNorm(grads: Float32Array, maxNorm: number): number {
  let sumSquares = 0;
  for (let i = 0; i < grads.length; i++) sumSquares += grads[i] * grads[i];
  const norm = Math.sqrt(sumSquares);
  const coefficient = maxNorm / (norm + 1e-6);
  if (Number.isFinite(norm) && coefficient < 1) {
    for (let i = 0; i < grads.length; i++) grads[i] *= coefficient;
  }
  return norm;
}
