/**
 * Data-parallel gradient computation across `worker_threads`.
 *
 * The main thread computes one slice of each batch itself while every
 * worker thread computes another slice on its own TensorFlow.js backend.
 * Parameters live in one SharedArrayBuffer that the main thread updates and
 * the workers read. Each worker writes its gradient into a shared buffer of
 * its own, which the main thread sums. On a 2-core machine with the
 * single-threaded WebAssembly backend, this is what puts the second core to
 * work.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';

import * as tf from '@tensorflow/tfjs-core';

import type { ModelConfig } from '../model/config.js';
import type { DropoutSpec } from '../model/dropout.js';
import { ModelEngine, type BatchInput, type EvaluationDetail, type GradientResult } from '../model/engine.js';
import type { ParamLayout } from '../model/params.js';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './workerProtocol.js';

/** Options of {@link DataParallel}. */
export interface DataParallelOptions {
  /**
   * Threads that compute gradients, counting the main thread. Default: 2 on
   * the wasm backend when the machine has at least 2 cores, else 1 (native
   * backends already use every core).
   */
  workers?: number;
  /** Backend name each worker thread selects; default the main thread's. */
  backend?: string;
  /** Path of the compiled worker script; default found next to this module. */
  workerScript?: string;
}

/** Returns the default number of gradient threads for the active backend. */
export function defaultWorkerCount(): number {
  const cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  return tf.getBackend() === 'wasm' ? Math.max(1, Math.min(2, cores)) : 1;
}

interface ThreadHandle {
  worker: Worker;
  grads: Float32Array;
  pending: { resolve: (reply: WorkerReply) => void; reject: (error: Error) => void } | null;
  failure: Error | null;
}

/**
 * Splits batches by rows across the main thread and worker threads.
 *
 * Call {@link DataParallel.close} when done: worker threads keep the
 * process alive.
 */
export class DataParallel {
  /** Layout of `params`. */
  readonly layout: ParamLayout;
  /** Parameters shared with every thread; update in place, then call {@link DataParallel.weightsChanged}. */
  readonly params: Float32Array;
  private readonly local: ModelEngine;
  private readonly threads: ThreadHandle[] = [];
  private version = 0;
  private localVersion = -1;
  private readonly summed: Float32Array;

  private constructor(config: ModelConfig, layout: ParamLayout, params: Float32Array) {
    this.layout = layout;
    this.params = params;
    this.local = new ModelEngine(config, layout);
    this.summed = new Float32Array(layout.size);
  }

  /**
   * Starts the worker threads and waits until each has loaded its backend.
   *
   * @param initial - starting parameters; copied into shared memory.
   * @throws {Error} when a worker fails to start, with its reason.
   */
  static async create(config: ModelConfig, layout: ParamLayout, initial: Float32Array, options: DataParallelOptions = {}): Promise<DataParallel> {
    const shared = new Float32Array(new SharedArrayBuffer(layout.size * 4));
    shared.set(initial);
    const pool = new DataParallel(config, layout, shared);

    const count = options.workers ?? defaultWorkerCount();
    if (!Number.isInteger(count) || count < 1) {
      throw new Error(`workers must be a positive integer, received ${count}.`);
    }
    const script = options.workerScript ?? workerScriptPath();
    const backend = options.backend ?? tf.getBackend();
    try {
      for (let i = 1; i < count; i++) {
        pool.threads.push(await startThread(script, { config, layoutSize: layout.size, params: shared, backend }));
      }
    } catch (error) {
      await pool.close();
      throw error;
    }
    return pool;
  }

  /** Number of threads computing gradients, the main thread included. */
  get workerCount(): number {
    return this.threads.length + 1;
  }

  /** Marks the shared parameters as changed, so every thread reloads them before its next pass. */
  weightsChanged(): void {
    this.version += 1;
  }

  /**
   * Computes the summed loss and gradient of a batch, with each thread
   * taking a contiguous slice of rows.
   *
   * @returns the sums over the whole batch; `grads` is reused by the next call.
   */
  async gradients(batch: BatchInput, dropoutSeed: number): Promise<GradientResult> {
    const slices = sliceRows(batch, this.workerCount);
    const replies = this.threads.map((thread, i) =>
      request(thread, {
        kind: 'gradients',
        version: this.version,
        batch: slices[i + 1].batch,
        dropout: { seed: dropoutSeed, rowOffset: slices[i + 1].rowOffset },
      }),
    );

    this.syncLocal();
    const dropout: DropoutSpec = { seed: dropoutSeed, rowOffset: 0 };
    const own = this.local.forwardBackward(slices[0].batch, dropout);
    this.summed.set(own.grads);
    let { lossSum, tokens, correct } = own;

    const results = await Promise.all(replies);
    results.forEach((reply, i) => {
      if (reply.kind !== 'gradients') throw new Error(`Worker ${i + 1} sent "${reply.kind}" instead of gradients.`);
      const grads = this.threads[i].grads;
      for (let j = 0; j < grads.length; j++) this.summed[j] += grads[j];
      lossSum += reply.lossSum;
      tokens += reply.tokens;
      correct += reply.correct;
    });
    return { lossSum, tokens, correct, grads: this.summed };
  }

  /** Evaluates a batch without dropout, splitting its rows across threads. */
  async evaluate(batch: BatchInput): Promise<EvaluationDetail> {
    const slices = sliceRows(batch, this.workerCount);
    const replies = this.threads.map((thread, i) => request(thread, { kind: 'evaluate', version: this.version, batch: slices[i + 1].batch }));
    this.syncLocal();
    const parts = [this.local.evaluate(slices[0].batch)];
    for (const reply of await Promise.all(replies)) {
      if (reply.kind !== 'evaluate') throw new Error(`A worker sent "${reply.kind}" instead of an evaluation.`);
      parts.push(reply.detail);
    }
    return mergeEvaluations(parts);
  }

  /** Stops the worker threads and frees the main thread's tensors. */
  async close(): Promise<void> {
    this.local.dispose();
    await Promise.all(this.threads.map((thread) => thread.worker.terminate()));
    this.threads.length = 0;
  }

  private syncLocal(): void {
    if (this.localVersion !== this.version) {
      this.local.setWeights(this.params);
      this.localVersion = this.version;
    }
  }
}

/**
 * Locates the compiled worker script. Compiled CommonJS finds it beside
 * this module; sources run through ts-jest use the build in dist/cjs, so run
 * `npm run build` first. `ACOUSTIC_LM_WORKER_SCRIPT` overrides both.
 */
export function workerScriptPath(): string {
  const override = process.env.ACOUSTIC_LM_WORKER_SCRIPT;
  if (override !== undefined && override !== '') return override;
  const candidates = [path.join(moduleDirectory(), 'worker.js'), path.resolve(moduleDirectory(), '..', '..', 'dist', 'cjs', 'train', 'worker.js')];
  for (const candidate of candidates) {
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`The data-parallel worker script was not found (looked for ${candidates.join(' and ')}); run npm run build, or train with workers: 1.`);
}

function moduleDirectory(): string {
  // Replaced in the ES-module build, where __dirname does not exist.
  return __dirname;
}

async function startThread(script: string, setup: WorkerSetup): Promise<ThreadHandle> {
  const grads = new Float32Array(new SharedArrayBuffer(setup.layoutSize * 4));
  const worker = new Worker(script, { workerData: { ...setup, grads } });
  const handle: ThreadHandle = { worker, grads, pending: null, failure: null };

  const fail = (error: Error): void => {
    handle.failure = error;
    handle.pending?.reject(error);
    handle.pending = null;
  };
  worker.on('error', (error) => fail(new Error(`A training worker thread failed: ${error.message}`)));
  worker.on('exit', (code) => {
    if (code !== 0) fail(new Error(`A training worker thread exited with code ${code}.`));
  });
  worker.on('message', (reply: WorkerReply) => {
    // An idle worker must not keep the process alive; a busy one must.
    worker.unref();
    const pending = handle.pending;
    handle.pending = null;
    if (reply.kind === 'error') pending?.reject(new Error(reply.message));
    else pending?.resolve(reply);
  });

  const ready = await new Promise<WorkerReply>((resolve, reject) => {
    handle.pending = { resolve, reject };
  });
  if (ready.kind !== 'ready') {
    throw new Error(`A training worker thread sent "${ready.kind}" before it was ready.`);
  }
  return handle;
}

function request(thread: ThreadHandle, message: WorkerRequest): Promise<WorkerReply> {
  if (thread.failure !== null) return Promise.reject(thread.failure);
  return new Promise((resolve, reject) => {
    thread.pending = { resolve, reject };
    thread.worker.ref();
    thread.worker.postMessage(message);
  });
}

/** Splits a batch into `parts` contiguous row ranges, as equal as possible. */
export function sliceRows(batch: BatchInput, parts: number): { batch: BatchInput; rowOffset: number }[] {
  const T = batch.seqLen;
  const slices: { batch: BatchInput; rowOffset: number }[] = [];
  let row = 0;
  for (let i = 0; i < parts; i++) {
    const rows = Math.floor(batch.batchSize / parts) + (i < batch.batchSize % parts ? 1 : 0);
    slices.push({
      rowOffset: row,
      batch: {
        inputs: batch.inputs.slice(row * T, (row + rows) * T),
        targets: batch.targets.slice(row * T, (row + rows) * T),
        batchSize: rows,
        seqLen: T,
      },
    });
    row += rows;
  }
  return slices;
}

/** Concatenates evaluations of consecutive row slices. */
export function mergeEvaluations(parts: EvaluationDetail[]): EvaluationDetail {
  const losses = new Float32Array(parts.reduce((n, part) => n + part.losses.length, 0));
  let offset = 0;
  const total = { lossSum: 0, tokens: 0, correct: 0, top5: 0 };
  for (const part of parts) {
    losses.set(part.losses, offset);
    offset += part.losses.length;
    total.lossSum += part.lossSum;
    total.tokens += part.tokens;
    total.correct += part.correct;
    total.top5 += part.top5;
  }
  return { ...total, losses };
}
