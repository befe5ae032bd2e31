/**
 * Messages between the main thread and data-parallel worker threads.
 */
import type { ModelConfig } from '../model/config.js';
import type { DropoutSpec } from '../model/dropout.js';
import type { BatchInput, EvaluationDetail } from '../model/engine.js';

/** Data a worker thread starts with. */
export interface WorkerSetup {
  config: ModelConfig;
  layoutSize: number;
  /** Shared parameters, updated by the main thread between requests. */
  params: Float32Array;
  /** TensorFlow.js backend name to activate (`wasm`, `cpu`, `tensorflow`). */
  backend: string;
}

/** A request from the main thread; `version` changes whenever the shared parameters do. */
export type WorkerRequest =
  { kind: 'gradients'; version: number; batch: BatchInput; dropout: DropoutSpec } | { kind: 'evaluate'; version: number; batch: BatchInput };

/** A worker's reply; gradients go to the worker's shared gradient buffer. */
export type WorkerReply =
  | { kind: 'ready' }
  | { kind: 'gradients'; lossSum: number; tokens: number; correct: number }
  | { kind: 'evaluate'; detail: EvaluationDetail }
  | { kind: 'error'; message: string };
