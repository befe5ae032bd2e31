import { AdamW, clipGradNorm } from '../src/train/adamw';
import { learningRate } from '../src/train/schedule';

describe('AdamW', () => {
  test('first step matches the hand-computed update', () => {
    // Step 1: m = 0.1·g, v = 0.001·g², m̂ = g, v̂ = g², so
    // p ← p·(1 − lr·wd) − lr·g/(|g| + eps) = p·(1 − lr·wd) − lr·sign(g) (up to eps).
    const params = Float32Array.from([1, -2, 0.5]);
    const grads = Float32Array.from([0.3, -0.1, 0]);
    const adam = new AdamW(3, { lr: 0.01, weightDecay: 0.1 });
    adam.update(params, grads);
    expect(params[0]).toBeCloseTo(1 * (1 - 0.001) - 0.01 * (0.3 / (0.3 + 1e-8)), 6);
    expect(params[1]).toBeCloseTo(-2 * (1 - 0.001) + 0.01 * (0.1 / (0.1 + 1e-8)), 6);
    expect(params[2]).toBeCloseTo(0.5 * (1 - 0.001), 6);
    expect(adam.m[0]).toBeCloseTo(0.03, 7);
    expect(adam.v[0]).toBeCloseTo(0.001 * 0.09, 9);
  });

  test('second step uses bias-corrected moments', () => {
    const params = Float32Array.from([0]);
    const adam = new AdamW(1, { lr: 0.1, weightDecay: 0 });
    adam.update(params, Float32Array.from([1]));
    adam.update(params, Float32Array.from([0.5]));
    const m = 0.9 * 0.1 + 0.1 * 0.5;
    const v = 0.999 * 0.001 + 0.001 * 0.25;
    const mHat = m / (1 - 0.9 ** 2);
    const vHat = v / (1 - 0.999 ** 2);
    expect(params[0]).toBeCloseTo(-0.1 - (0.1 * mHat) / (Math.sqrt(vHat) + 1e-8), 5);
  });
});

describe('gradient clipping', () => {
  test('scales to the maximum norm', () => {
    const grads = Float32Array.from([3, 4]);
    expect(clipGradNorm(grads, 1)).toBe(5);
    expect(grads[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    expect(grads[1]).toBeCloseTo(4 / (5 + 1e-6), 6);
  });

  test('leaves small gradients alone', () => {
    const grads = Float32Array.from([0.3, 0.4]);
    clipGradNorm(grads, 1);
    expect(Array.from(grads)).toEqual([Math.fround(0.3), Math.fround(0.4)]);
  });
});

describe('learning-rate schedule', () => {
  const schedule = { kind: 'cosine' as const, lr: 1e-3, warmupSteps: 10, totalSteps: 110, minLrRatio: 0.1 };
  test('warms up linearly', () => {
    expect(learningRate(schedule, 1)).toBeCloseTo(1e-4, 10);
    expect(learningRate(schedule, 10)).toBeCloseTo(1e-3, 10);
  });
  test('decays along a cosine to the floor', () => {
    expect(learningRate(schedule, 60)).toBeCloseTo(1e-4 + 0.5 * 9e-4, 10);
    expect(learningRate(schedule, 110)).toBeCloseTo(1e-4, 10);
    expect(learningRate(schedule, 500)).toBeCloseTo(1e-4, 10);
  });
  test('constant ignores the step', () => {
    expect(learningRate({ ...schedule, kind: 'constant' }, 1)).toBe(1e-3);
  });
});
