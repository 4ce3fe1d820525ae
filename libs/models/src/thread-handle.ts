import { Worker } from 'node:worker_threads';
import { ThreadCrashedError, ThreadStartError } from './errors.js';
import { reviveError, type ThreadConfig, type ThreadEnvelope, type ThreadMessage, type ThreadRequest, type ThreadResults } from './thread-protocol.js';

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

type State = 'starting' | 'ready' | 'dead' | 'terminated';

/**
 * Main-thread side of one inference thread: numbers requests, matches
 * replies, and turns a dying thread into rejected requests plus one
 * `onCrash` call (the pool decides whether to replace it).
 */
export class ThreadHandle {
  /** Resolves once the thread has imported transformers.js and configured it. */
  readonly ready: Promise<void>;
  /** Scheduled tasks (ThreadScheduler) sent and not yet answered (at most THREAD_PIPELINE_DEPTH); the thread runs them one at a time. */
  tasks = 0;
  private state: State = 'starting';
  private readonly worker: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private everReady = false;
  private settleReady!: (error?: Error) => void;

  constructor(
    readonly index: number,
    entry: URL,
    config: ThreadConfig,
    private readonly onCrash: (handle: ThreadHandle, error: Error) => void,
  ) {
    this.ready = new Promise<void>((resolve, reject) => {
      this.settleReady = (error) => (error ? reject(error) : resolve());
    });
    // A crash before anyone awaits `ready` must not become an unhandled rejection.
    this.ready.catch(() => undefined);
    this.worker = new Worker(entry, { workerData: config, name: `shardwise-inference-${index}` });
    this.worker.on('message', (message: ThreadMessage) => this.receive(message));
    this.worker.on('error', (error) => this.die(error.message));
    this.worker.on('messageerror', (error) => this.die(`unreadable message: ${error.message}`));
    this.worker.on('exit', (code) => this.die(`exited with code ${code}`));
  }

  get alive(): boolean {
    return this.state === 'starting' || this.state === 'ready';
  }

  /** False when the thread died while starting (replacing it would likely loop). */
  get wasReady(): boolean {
    return this.everReady;
  }

  request<K extends ThreadRequest['type']>(request: Extract<ThreadRequest, { type: K }>, transfer: ArrayBuffer[] = []): Promise<ThreadResults[K]> {
    if (!this.alive) return Promise.reject(new ThreadCrashedError(this.index, 'thread is no longer running'));
    const id = this.nextId++;
    return new Promise<ThreadResults[K]>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
      const envelope: ThreadEnvelope = { id, request };
      this.worker.postMessage(envelope, transfer);
    });
  }

  /** Stops the thread without reporting a crash; pending requests are rejected. */
  async terminate(): Promise<void> {
    if (this.state === 'terminated') return;
    const wasAlive = this.alive;
    this.state = 'terminated';
    this.rejectAll(new ThreadCrashedError(this.index, 'the pool was closed'));
    this.settleReady(new ThreadCrashedError(this.index, 'the pool was closed'));
    if (wasAlive) await this.worker.terminate();
  }

  private receive(message: ThreadMessage): void {
    if (message.type === 'ready') {
      if (this.state === 'starting') this.state = 'ready';
      this.everReady = true;
      this.settleReady();
      return;
    }
    const pending = this.pending.get(message.id);
    if (!pending) return;
    this.pending.delete(message.id);
    if (message.ok) pending.resolve(message.result);
    else pending.reject(reviveError(message.error));
  }

  private die(reason: string): void {
    if (!this.alive) return;
    const crashed = new ThreadCrashedError(this.index, reason);
    this.state = 'dead';
    this.rejectAll(crashed);
    this.settleReady(this.everReady ? crashed : new ThreadStartError(this.index, reason));
    // 'error' is followed by 'exit'; make sure the native side is gone either way.
    void this.worker.terminate();
    this.onCrash(this, crashed);
  }

  private rejectAll(error: Error): void {
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) p.reject(error);
  }
}
