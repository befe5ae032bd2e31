import { BackendError, currentBackend, parseBackendName, selectBackend } from '../src/backend';

describe('backend selection', () => {
  test('a named backend that fails is an error naming it', async () => {
    let message = '';
    try {
      await selectBackend({ backend: 'node', log: () => undefined });
    } catch (error) {
      expect(error).toBeInstanceOf(BackendError);
      message = (error as Error).message;
    }
    // Where tfjs-node is installed this test has nothing to check.
    if (currentBackend() === 'node') return;
    expect(message).toMatch(/^The node backend failed to load: /);
    expect(message).toContain('--backend wasm');
  });

  test('wasm loads by name and is logged once', async () => {
    const lines: string[] = [];
    expect(await selectBackend({ backend: 'wasm', log: (line) => lines.push(line) })).toBe('wasm');
    expect(await selectBackend({ backend: 'wasm', log: (line) => lines.push(line) })).toBe('wasm');
    expect(lines).toEqual(['acoustic-lm: using the TensorFlow.js wasm backend']);
  });

  test('the environment variable chooses the backend', async () => {
    process.env.ACOUSTIC_LM_BACKEND = 'wasm';
    try {
      expect(await selectBackend({ log: () => undefined })).toBe('wasm');
    } finally {
      delete process.env.ACOUSTIC_LM_BACKEND;
    }
  });

  test('unknown names are rejected with the list', () => {
    expect(() => parseBackendName('webgpu')).toThrow('Unknown backend "webgpu": use one of auto, node-gpu, node, wasm, cpu.');
    expect(parseBackendName(' ')).toBeUndefined();
    expect(parseBackendName('auto')).toBe('auto');
  });
});
