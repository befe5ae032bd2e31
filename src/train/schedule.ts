/**
 * Learning-rate schedules.
 */

/** A learning-rate schedule over optimiser steps. */
export interface ScheduleOptions {
  /** `'constant'` keeps the peak rate; `'cosine'` warms up linearly, then decays along a half cosine. */
  kind: 'constant' | 'cosine';
  /** Peak learning rate. */
  lr: number;
  /** Steps of linear warmup from lr/warmupSteps up to lr (cosine only). */
  warmupSteps: number;
  /** Total steps; the cosine reaches lr·minLrRatio at the last step. */
  totalSteps: number;
  /** Final learning rate as a share of the peak (cosine only). */
  minLrRatio: number;
}

/** Returns the learning rate of step `step` (1-based). */
export function learningRate(schedule: ScheduleOptions, step: number): number {
  const { kind, lr, warmupSteps, totalSteps, minLrRatio } = schedule;
  if (kind === 'constant') return lr;
  if (step <= warmupSteps) return (lr * step) / Math.max(1, warmupSteps);
  const span = Math.max(1, totalSteps - warmupSteps);
  const progress = Math.min(1, (step - warmupSteps) / span);
  const floor = lr * minLrRatio;
  return floor + 0.5 * (lr - floor) * (1 + Math.cos(Math.PI * progress));
}
