import { assertDeviceAvailable } from './device.js';
import { runEncodeRequest } from './encode-request.js';
import { assertTextPairs, assertTexts, resolveEncodeOptions, validatePoolOptions } from './encode-options.js';
import { AbortError, InvalidEncodeOptionsError, InvalidPoolOptionsError, PoolStateError, UnsupportedDtypeError, UnsupportedTaskError } from './errors.js';
import { assertSafeModelId } from './model-id.js';
import { readModelInfo, type ModelInfo } from './model-info.js';
import { MODEL_HINTS, taskModule, type TaskName } from './tasks/index.js';
import { threadEntryUrl } from './thread-entry.js';
import { ThreadScheduler, type Cancellation } from './thread-scheduler.js';
import type { EncodeRequest, EncodeResponse, InferencePoolOptions } from './types.js';

type State = 'new' | 'starting' | 'running' | 'closed';

/**
 * Runs transformers.js models on worker threads. One encode() request is
 * split into batches that all threads work on; results come back in input
 * order. Typical use: `start()`, `load()` each model once, `encode()` per
 * shard, `close()` on shutdown.
 */
export class InferencePool {
  private readonly options: InferencePoolOptions;
  private state: State = 'new';
  private scheduler: ThreadScheduler | undefined;
  private starting: Promise<void> | undefined;
  private readonly loaded = new Map<string, Promise<ModelInfo>>();

  /** Validates options only; threads are spawned by start(). */
  constructor(options: InferencePoolOptions) {
    validatePoolOptions(options);
    if (options.hubEndpoint !== undefined && !isHttpUrl(options.hubEndpoint)) {
      throw new InvalidPoolOptionsError(`hubEndpoint must be an http:// or https:// URL (got ${JSON.stringify(options.hubEndpoint)})`);
    }
    this.options = { ...options };
  }

  /** Spawns the threads; fails if the device is unavailable or a thread cannot start. Idempotent. */
  start(): Promise<void> {
    if (this.state === 'closed') return Promise.reject(new PoolStateError('closed'));
    this.starting ??= (async () => {
      this.state = 'starting';
      const { threads, intraOpThreads, device, dtype, q8Mode, modelDir, hubEndpoint, hubCacheDir } = this.options;
      assertDeviceAvailable(device);
      const scheduler = new ThreadScheduler(threads, threadEntryUrl(), { intraOpThreads, device, dtype, q8Mode, modelDir, hubEndpoint, hubCacheDir });
      this.scheduler = scheduler;
      await scheduler.start();
      // close() may have been called while the threads were starting.
      if (this.state === 'starting') this.state = 'running';
    })();
    return this.starting;
  }

  /**
   * Loads a model in every thread and warms it up; returns what it can do. The pool is the one memo
   * of loaded models: concurrent calls share one load, and a failed load is forgotten so the next
   * call retries it. `modelId` is an id already resolved by resolveModelId (the API resolves each
   * job's model, the worker its PRELOAD_MODELS); it is only checked to be safe here.
   */
  async load(modelId: string, task: TaskName): Promise<ModelInfo> {
    const scheduler = this.running();
    const key = `${modelId}|${task}`;
    let info = this.loaded.get(key);
    if (!info) {
      info = this.loadEverywhere(scheduler, modelId, task);
      this.loaded.set(key, info);
      info.catch(() => this.loaded.delete(key));
    }
    return info;
  }

  /** Encodes `texts`; loads the model first if needed. Item failures are results, not rejections. */
  async encode(request: EncodeRequest): Promise<EncodeResponse> {
    const scheduler = this.running();
    assertTexts(request.texts);
    if (request.textPairs !== undefined) assertTextPairs(request.textPairs, request.texts.length);
    const options = resolveEncodeOptions(request.options);
    const { signal } = request;
    if (signal?.aborted) throw new AbortError(signal.reason);
    const info = await this.load(request.modelId, request.task);
    const problem = taskModule(request.task).optionsProblem?.(info, options);
    if (problem !== undefined) throw new InvalidEncodeOptionsError(problem.message);
    const cancellation: Cancellation = { cancelled: false, cancelReason: () => new AbortError(signal?.reason) };
    const work = runEncodeRequest({
      scheduler,
      threads: this.options.threads,
      limits: { maxBatchTokens: this.options.maxBatchTokens, maxBatchSize: this.options.maxBatchSize },
      model: { modelId: info.id, task: request.task },
      info,
      texts: request.texts,
      ...(request.textPairs ? { textPairs: request.textPairs } : {}),
      options,
      cancellation,
    }).catch((error: unknown) => {
      // Drop this request's queued batches: the caller has its answer already.
      cancellation.cancelled = true;
      throw error;
    });
    return signal ? raceAbort(work, signal, cancellation) : work;
  }

  /** Disposes every session and terminates the threads. Idempotent. */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    await this.starting?.catch(() => undefined);
    await this.scheduler?.close();
  }

  private running(): ThreadScheduler {
    if (this.state === 'closed') throw new PoolStateError('closed');
    if (this.state !== 'running' || !this.scheduler) throw new PoolStateError('not-started');
    return this.scheduler;
  }

  private async loadEverywhere(scheduler: ThreadScheduler, id: string, task: TaskName): Promise<ModelInfo> {
    const { modelDir, dtype } = this.options;
    assertSafeModelId(id);
    // Local folders can be checked from the files alone, before any thread spends time loading.
    const local = modelDir === undefined ? undefined : await readModelInfo(id, { modelDir });
    if (local && !local.tasks.includes(task)) throw new UnsupportedTaskError(id, task, local.tasks, MODEL_HINTS);
    if (local && !local.dtypes.includes(dtype)) throw new UnsupportedDtypeError(id, dtype, local.dtypes);
    const infos = await scheduler.broadcast({ type: 'load', model: { modelId: id, task } });
    return local ?? (infos[0] as ModelInfo);
  }
}

function isHttpUrl(value: string): boolean {
  return URL.canParse(value) && /^https?:$/.test(new URL(value).protocol);
}

function raceAbort<T>(work: Promise<T>, signal: AbortSignal, cancellation: Cancellation): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      cancellation.cancelled = true;
      reject(new AbortError(signal.reason));
    };
    if (signal.aborted) return onAbort();
    signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}
