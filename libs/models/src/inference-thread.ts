/**
 * Entry point of one inference thread (worker_threads). session.run blocks
 * the thread it runs on, so it happens here and never on the worker app's
 * main thread, which must stay free to renew BullMQ locks.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { configureTransformers } from './model-loader.js';
import { ModelRunner } from './model-runner.js';
import { serializeError, type ModelRef, type ThreadConfig, type ThreadEnvelope, type ThreadMessage, type ThreadRequest } from './thread-protocol.js';

if (!parentPort) throw new Error('inference-thread.js must be started as a worker thread by InferencePool');
const port = parentPort;
const config = workerData as ThreadConfig;
configureTransformers(config);

// The models this thread has loaded, which it owns and disposes. Not a memo of loads: requests run
// one at a time (below), so no two loads of a model can overlap here, and InferencePool is what
// shares and retries loads. A failed load stores nothing, so the next request tries again. A
// thread that replaced a crashed one loads its models on first use.
const runners = new Map<string, ModelRunner>();

async function runnerFor(ref: ModelRef): Promise<ModelRunner> {
  const key = `${ref.modelId}|${ref.task}`;
  let runner = runners.get(key);
  if (!runner) {
    runner = await ModelRunner.load(ref, config);
    runners.set(key, runner);
  }
  return runner;
}

async function handle(request: ThreadRequest): Promise<{ result: unknown; transfer: ArrayBuffer[] }> {
  switch (request.type) {
    case 'load':
      return { result: (await runnerFor(request.model)).info, transfer: [] };
    case 'tokenize': {
      const result = (await runnerFor(request.model)).tokenize(request.texts, request.truncate, request.textPairs);
      const buffers = [result.ids.buffer, result.lengths.buffer, result.original.buffer, ...(result.typeIds ? [result.typeIds.buffer] : [])];
      return { result, transfer: buffers as ArrayBuffer[] };
    }
    case 'run': {
      const runner = await runnerFor(request.model);
      const result = await runner.run(request.ids, request.lengths, request.options, request.typeIds);
      return { result, transfer: [result.values.buffer as ArrayBuffer] };
    }
    case 'dispose': {
      const loaded = [...runners.values()];
      runners.clear();
      await Promise.all(loaded.map((runner) => runner.dispose()));
      return { result: null, transfer: [] };
    }
    case 'crash':
      process.exit(70);
  }
}

// The pool may send the next task before this one is answered (THREAD_PIPELINE_DEPTH); requests
// still run strictly one after another, so each reply's `seconds` is its own work, not its wait.
let previous: Promise<unknown> = Promise.resolve();

port.on('message', (envelope: ThreadEnvelope) => {
  if (envelope.request.type === 'crash') process.exit(70);
  const current = previous.then(() =>
    handle(envelope.request).then(
      ({ result, transfer }) => port.postMessage({ type: 'reply', id: envelope.id, ok: true, result } satisfies ThreadMessage, transfer),
      (error: unknown) => port.postMessage({ type: 'reply', id: envelope.id, ok: false, error: serializeError(error) } satisfies ThreadMessage),
    ),
  );
  // A reply that cannot be posted still kills the thread (the pool rejects its requests and replaces
  // it), as an unhandled rejection did before this chain; it must not leave the chain rejected.
  previous = current.catch((error: unknown) => {
    queueMicrotask(() => {
      throw error;
    });
  });
});

port.postMessage({ type: 'ready' } satisfies ThreadMessage);
