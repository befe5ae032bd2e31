/**
 * Entry point of a data-parallel worker thread: loads its own backend,
 * then serves gradient and evaluation requests for slices of each batch.
 */
import { parentPort, workerData } from 'node:worker_threads';

import * as tf from '@tensorflow/tfjs-core';

import { ModelEngine } from '../model/engine.js';
import { buildParamLayout } from '../model/params.js';
import type { WorkerReply, WorkerRequest, WorkerSetup } from './workerProtocol.js';

const BACKEND_MODULES: Record<string, string> = {
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
  tensorflow: '@tensorflow/tfjs-node',
};

async function main(): Promise<void> {
  const port = parentPort;
  if (port === null) throw new Error('worker.js must run as a worker thread.');
  const setup = workerData as WorkerSetup & { grads: Float32Array };
  const reply = (message: WorkerReply): void => port.postMessage(message);

  try {
    const moduleName = BACKEND_MODULES[setup.backend];
    if (moduleName === undefined) throw new Error(`Unsupported backend "${setup.backend}" for a worker thread.`);
    await import(moduleName);
    if (!(await tf.setBackend(setup.backend))) throw new Error(`Backend ${setup.backend} failed to start in a worker thread.`);
    await tf.ready();
  } catch (error) {
    reply({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
    return;
  }

  const engine = new ModelEngine(setup.config, buildParamLayout(setup.config));
  let loadedVersion = -1;
  reply({ kind: 'ready' });

  port.on('message', (request: WorkerRequest) => {
    try {
      if (request.version !== loadedVersion) {
        engine.setWeights(setup.params);
        loadedVersion = request.version;
      }
      if (request.kind === 'gradients') {
        const result = engine.forwardBackward(request.batch, request.dropout);
        setup.grads.set(result.grads);
        reply({ kind: 'gradients', lossSum: result.lossSum, tokens: result.tokens, correct: result.correct });
      } else {
        reply({ kind: 'evaluate', detail: engine.evaluate(request.batch) });
      }
    } catch (error) {
      reply({ kind: 'error', message: error instanceof Error ? error.message : String(error) });
    }
  });
}

void main();
