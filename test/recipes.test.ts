import { recipeOptions, RECIPES } from '../src/train/recipes';
import type { TrainingOptions } from '../src/train/trainer';

/** Overrides that change only the window's stride (and align, when given). */
function windowOverride(stride: number, align?: number): Partial<TrainingOptions> {
  const window = align === undefined ? { stride } : { stride, align };
  return { window: window as TrainingOptions['window'] };
}

describe('recipes', () => {
  test('fast recipe draws stride-4 windows', () => {
    const window = recipeOptions('fast').window;
    expect(window.align).toBe(4);
    expect(window.stride % 4).toBe(0);
    expect(window.randomOffset).toBe(true);
    expect(window.tail).toBe(false);
  });

  test('a caller stride keeps the grid that divides it', () => {
    expect(recipeOptions('fast', windowOverride(30)).window.align).toBe(2);
    expect(recipeOptions('fast', windowOverride(33)).window.align).toBe(1);
    expect(recipeOptions('fast', windowOverride(32)).window.align).toBe(4);
  });

  test('an explicit align is kept', () => {
    expect(recipeOptions('fast', windowOverride(30, 3)).window.align).toBe(3);
  });

  test('seed recipe validates with its stride', () => {
    expect(recipeOptions('seed', windowOverride(16)).valStride).toBe(16);
    expect(RECIPES.seed.window.align).toBeUndefined();
  });

  test('unknown recipe names the known ones', () => {
    expect(() => recipeOptions('quick')).toThrow('Unknown recipe "quick": use one of seed, fast.');
  });
});
