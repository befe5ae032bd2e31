/**
 * Selection of the TensorFlow.js backend.
 *
 * Native backends come first because they are the fastest where they
 * install; the WebAssembly backend is the fast choice everywhere else; the
 * pure-JavaScript `cpu` backend is a last resort that trains several hundred
 * times slower than PyTorch on the same machine.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Names accepted by {@link selectBackend} and `ACOUSTIC_LM_BACKEND`. */
export type BackendName = 'node-gpu' | 'node' | 'wasm' | 'cpu';

/** The automatic order: the first backend that loads wins. */
export const BACKEND_ORDER: readonly BackendName[] = ['node-gpu', 'node', 'wasm', 'cpu'];

/** Options of {@link selectBackend}. */
export interface BackendOptions {
  /**
   * Backend to use, or `'auto'` for the first of {@link BACKEND_ORDER} that
   * loads. Default: the environment variable `ACOUSTIC_LM_BACKEND`, else `'auto'`.
   */
  backend?: BackendName | 'auto';
  /** Receives the one line that names the chosen backend. Default: `console.error`. */
  log?: (line: string) => void;
}

/** Error raised when a backend asked for by name cannot be used. */
export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
}

const TF_BACKEND_ID: Record<BackendName, string> = {
  'node-gpu': 'tensorflow',
  node: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const BACKEND_MODULE: Record<BackendName, string> = {
  'node-gpu': '@tensorflow/tfjs-node-gpu',
  node: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

let selected: BackendName | null = null;

/** Returns the backend chosen by {@link selectBackend}, or null before the first call. */
export function currentBackend(): BackendName | null {
  return selected;
}

/**
 * Loads and activates a TensorFlow.js backend and logs its name once.
 *
 * Without a name, tries `node-gpu`, `node`, `wasm` and `cpu` in that order.
 * A backend asked for by name that fails to load raises an error that names
 * it and the reason; it never falls back silently.
 *
 * @returns the name of the active backend.
 * @throws {BackendError} when a named backend, or every backend, fails to load.
 *
 * @example
 * const name = await selectBackend({ backend: 'wasm' });
 */
export async function selectBackend(options: BackendOptions = {}): Promise<BackendName> {
  const requested = options.backend ?? parseBackendName(process.env.ACOUSTIC_LM_BACKEND) ?? 'auto';
  const log = options.log ?? ((line: string) => console.error(line));

  if (selected !== null && (requested === 'auto' || requested === selected)) {
    return selected;
  }

  const candidates = requested === 'auto' ? BACKEND_ORDER : [requested];
  const failures: string[] = [];
  for (const name of candidates) {
    try {
      await activate(name);
      selected = name;
      log(`acoustic-lm: using the TensorFlow.js ${name} backend`);
      return name;
    } catch (error) {
      const reason = firstLine(error);
      if (requested !== 'auto') {
        throw new BackendError(`The ${name} backend failed to load: ${reason}. ${installHint(name)}`);
      }
      failures.push(`${name}: ${reason}`);
    }
  }
  throw new BackendError(`No TensorFlow.js backend could be loaded (${failures.join('; ')}).`);
}

/**
 * Parses a backend name, for example from the command line or the environment.
 *
 * @returns the name, or undefined for an empty value.
 * @throws {BackendError} for an unknown name, listing the accepted ones.
 */
export function parseBackendName(value: string | undefined): BackendName | 'auto' | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const name = value.trim();
  if (name === 'auto' || (BACKEND_ORDER as readonly string[]).includes(name)) {
    return name as BackendName | 'auto';
  }
  throw new BackendError(`Unknown backend "${name}": use one of auto, ${BACKEND_ORDER.join(', ')}.`);
}

async function activate(name: BackendName): Promise<void> {
  // Each package registers its backend with tfjs-core when it is first
  // loaded. The names go through a variable because the native packages are
  // optional dependencies that may be absent at compile time.
  const moduleName = BACKEND_MODULE[name];
  await import(moduleName);

  const ok = await tf.setBackend(TF_BACKEND_ID[name]);
  if (!ok) {
    throw new Error(`tf.setBackend('${TF_BACKEND_ID[name]}') returned false`);
  }
  await tf.ready();
}

function installHint(name: BackendName): string {
  if (name === 'node-gpu') {
    return 'It needs @tensorflow/tfjs-node-gpu installed with internet access, CUDA 11.2 and cuDNN 8.1; choose --backend wasm to run without it.';
  }
  if (name === 'node') {
    return 'It needs @tensorflow/tfjs-node installed with internet access (its install step downloads libtensorflow); choose --backend wasm to run without it.';
  }
  return 'Reinstall the package dependencies with npm install.';
}

function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n')[0].replace(/\.$/, '');
}
