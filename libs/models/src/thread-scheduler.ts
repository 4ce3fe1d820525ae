import { PoolStateError, ThreadStartError } from './errors.js';
import { ThreadHandle } from './thread-handle.js';
import type { ThreadConfig, ThreadRequest, ThreadResults } from './thread-protocol.js';

/** Shared by the tasks of one encode request; set when it is aborted or has already failed, so its queued tasks are dropped. */
export interface Cancellation {
  cancelled: boolean;
  cancelReason?: () => Error;
}

/** One queued request for an inference thread (a tokenize chunk or a batch to run). */
interface ThreadTask {
  request: ThreadRequest;
  transfer: ArrayBuffer[];
  cancellation: Cancellation | undefined;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

const DISPOSE_GRACE_MS = 5_000;

/**
 * Tasks sent to one thread before it has answered: the one it runs and the next, already in its
 * message queue. A thread that finishes a batch starts the next at once instead of waiting for the
 * main thread, which may be busy for tens of milliseconds writing a shard's results or talking to
 * Redis. The thread still runs one task at a time (session.run is synchronous), so cores are never
 * oversubscribed; more depth would only make the split between threads coarser.
 */
export const THREAD_PIPELINE_DEPTH = 2;

/**
 * Hands queued tasks to threads, at most THREAD_PIPELINE_DEPTH per thread, so a
 * big request's batches spread over every thread and a fast thread simply
 * takes more of them. Replaces threads that crash after starting.
 */
export class ThreadScheduler {
  private threads: ThreadHandle[] = [];
  private readonly queue: ThreadTask[] = [];
  private closed = false;

  constructor(
    private readonly count: number,
    private readonly entry: URL,
    private readonly config: ThreadConfig,
  ) {}

  async start(): Promise<void> {
    this.threads = Array.from({ length: this.count }, (_, i) => this.spawn(i));
    try {
      await Promise.all(this.threads.map((t) => t.ready));
    } catch (error) {
      await this.close();
      throw error;
    }
  }

  /** Queues a task for whichever thread is free first. */
  submit<K extends ThreadRequest['type']>(request: Extract<ThreadRequest, { type: K }>, transfer: ArrayBuffer[] = [], cancellation?: Cancellation): Promise<ThreadResults[K]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, transfer, cancellation, resolve: resolve as (value: unknown) => void, reject });
      this.pump();
    });
  }

  /** Sends a request to every live thread (model loads), bypassing the queue. */
  broadcast<K extends ThreadRequest['type']>(request: Extract<ThreadRequest, { type: K }>): Promise<ThreadResults[K][]> {
    const live = this.threads.filter((t) => t.alive);
    if (live.length === 0) return Promise.reject(new ThreadStartError(-1, 'no inference thread is running'));
    return Promise.all(live.map((t) => t.request<K>(request)));
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const task of this.queue.splice(0)) task.reject(new PoolStateError('closed'));
    const threads = this.threads;
    await Promise.all(
      threads.map(async (t) => {
        if (!t.wasReady || !t.alive) return t.terminate();
        // Let the thread release its ONNX sessions, but never let a stuck batch block shutdown.
        const grace = new Promise((resolve) => setTimeout(resolve, DISPOSE_GRACE_MS).unref());
        await Promise.race([t.request({ type: 'dispose' }).catch(() => undefined), grace]);
        await t.terminate();
      }),
    );
  }

  /** For tests and health checks: thread indices and whether each is alive. */
  describe(): Array<{ index: number; alive: boolean; busy: boolean }> {
    return this.threads.map((t) => ({ index: t.index, alive: t.alive, busy: t.tasks > 0 }));
  }

  /** Test hook: makes thread `index` exit as if it crashed. */
  crashThread(index: number): Promise<unknown> {
    const thread = this.threads.find((t) => t.index === index);
    return thread ? thread.request({ type: 'crash' }).catch((error: unknown) => error) : Promise.resolve(undefined);
  }

  private spawn(index: number): ThreadHandle {
    return new ThreadHandle(index, this.entry, this.config, (handle) => this.onCrash(handle));
  }

  private onCrash(handle: ThreadHandle): void {
    if (this.closed) return;
    const position = this.threads.indexOf(handle);
    if (position === -1) return;
    // A thread that never started would crash again; only replace threads that had been working.
    if (handle.wasReady) this.threads[position] = this.spawn(handle.index);
    else this.threads.splice(position, 1);
    if (this.threads.length === 0) {
      for (const task of this.queue.splice(0)) task.reject(new ThreadStartError(handle.index, 'every inference thread failed'));
    }
    this.pump();
  }

  private pump(): void {
    // Fill every thread to depth 1 first, then to depth 2: a lone task goes to an idle thread, never behind a busy one.
    for (let depth = 1; depth <= THREAD_PIPELINE_DEPTH; depth++) {
      for (const thread of this.threads) {
        if (!thread.alive || thread.tasks >= depth) continue;
        const task = this.nextTask();
        if (!task) return;
        this.dispatch(thread, task);
      }
    }
  }

  private dispatch(thread: ThreadHandle, task: ThreadTask): void {
    thread.tasks++;
    thread
      .request(task.request, task.transfer)
      .then(task.resolve, task.reject)
      .finally(() => {
        thread.tasks--;
        this.pump();
      });
  }

  private nextTask(): ThreadTask | undefined {
    for (;;) {
      const task = this.queue.shift();
      if (!task?.cancellation?.cancelled) return task;
      task.reject(task.cancellation.cancelReason?.() ?? new Error('request cancelled'));
    }
  }
}
