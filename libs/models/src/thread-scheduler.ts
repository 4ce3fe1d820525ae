import { PoolStateError, ThreadStartError } from './errors.js';
import { ThreadHandle } from './thread-handle.js';
import type { ThreadConfig, ThreadRequest, ThreadResults } from './thread-protocol.js';

/** Shared by the jobs of one encode() call; set when it is aborted or has already failed. */
export interface JobContext {
  cancelled: boolean;
  cancelReason?: () => Error;
}

interface Job {
  request: ThreadRequest;
  transfer: ArrayBuffer[];
  ctx: JobContext | undefined;
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

const DISPOSE_GRACE_MS = 5_000;

/**
 * Hands queued jobs to idle threads, one job per thread at a time, so a big
 * request's batches spread over every thread and a fast thread simply takes
 * more of them. Replaces threads that crash after starting.
 */
export class ThreadScheduler {
  private threads: ThreadHandle[] = [];
  private readonly queue: Job[] = [];
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

  /** Queues a job for whichever thread is free first. */
  submit<K extends ThreadRequest['type']>(
    request: Extract<ThreadRequest, { type: K }>,
    transfer: ArrayBuffer[] = [],
    ctx?: JobContext,
  ): Promise<ThreadResults[K]> {
    return new Promise((resolve, reject) => {
      this.queue.push({ request, transfer, ctx, resolve: resolve as (value: unknown) => void, reject });
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
    for (const job of this.queue.splice(0)) job.reject(new PoolStateError('closed'));
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
    return this.threads.map((t) => ({ index: t.index, alive: t.alive, busy: t.jobs > 0 }));
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
      for (const job of this.queue.splice(0)) job.reject(new ThreadStartError(handle.index, 'every inference thread failed'));
    }
    this.pump();
  }

  private pump(): void {
    for (const thread of this.threads) {
      if (!thread.alive || thread.jobs > 0) continue;
      const job = this.nextJob();
      if (!job) return;
      thread.jobs++;
      thread
        .request(job.request, job.transfer)
        .then(job.resolve, job.reject)
        .finally(() => {
          thread.jobs--;
          this.pump();
        });
    }
  }

  private nextJob(): Job | undefined {
    for (;;) {
      const job = this.queue.shift();
      if (!job || !job.ctx?.cancelled) return job;
      job.reject(job.ctx.cancelReason?.() ?? new Error('request cancelled'));
    }
  }
}
