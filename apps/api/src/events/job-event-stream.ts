import { TERMINAL_STATES, type JobRecord, toJobView } from '#shared';
import type { ApiResponse } from '../http/request.types.js';

/** What a client waits this long before reconnecting after the stream broke (the SSE `retry:` field). */
const RETRY_MS = 3000;

/**
 * One `text/event-stream` response of GET /v1/jobs/:id/events:
 *
 *   event: job        the job view when the stream opens
 *   event: progress   the job view after counted shards (only when something changed)
 *   event: completed | failed | cancelled   the final view; the server then ends the stream
 *   : heartbeat       a comment every SSE_HEARTBEAT_MS so proxies keep an idle stream open
 *
 * Every event carries the whole job view, so a client that missed one misses nothing.
 */
export class JobEventStream {
  private timer: NodeJS.Timeout | undefined;
  private last: { state: string; shardsDone: number; succeeded: number; failed: number } | null = null;
  private done = false;
  private readonly onEnd: Array<() => void> = [];

  constructor(
    private readonly res: ApiResponse,
    private readonly heartbeatMs: number,
  ) {
    // The client went away (or the stream ended): stop the heartbeat and let the caller unsubscribe.
    res.once('close', () => this.finish());
  }

  get ended(): boolean {
    return this.done;
  }

  /** Runs once when the stream is over, whichever side ended it. */
  whenEnded(callback: () => void): void {
    if (this.done) callback();
    else this.onEnd.push(callback);
  }

  open(): void {
    this.res.socket?.setNoDelay(true);
    this.res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-cache, no-transform',
      Connection: 'keep-alive',
      // nginx and similar proxies buffer responses unless told not to.
      'X-Accel-Buffering': 'no',
    });
    this.res.write(`retry: ${RETRY_MS}\n\n`);
    this.timer = setInterval(() => this.write(': heartbeat\n\n'), this.heartbeatMs);
  }

  /** The job as it is now: the first call sends `job`; later ones `progress`, or the final event and the end. */
  update(job: JobRecord | null): void {
    if (this.done) return;
    if (job === null) {
      this.send('error', { error: { code: 'JOB_NOT_FOUND', message: 'the job no longer exists' } });
      this.end();
      return;
    }
    const terminal = TERMINAL_STATES.includes(job.state);
    const view = toJobView(job);
    if (this.last === null) {
      this.remember(job);
      this.send('job', view);
      if (terminal) {
        this.send(job.state, view);
        this.end();
      }
      return;
    }
    // Reads can only move forward, but two updates may show the same counts: send changes only.
    if (!terminal && job.shardsDone <= this.last.shardsDone && job.state === this.last.state) return;
    this.remember(job);
    if (terminal) {
      this.send(job.state, view);
      this.end();
    } else {
      this.send('progress', view);
    }
  }

  end(): void {
    if (this.done) return;
    this.res.end();
    this.finish();
  }

  private remember(job: JobRecord): void {
    this.last = { state: job.state, shardsDone: job.shardsDone, succeeded: job.succeeded, failed: job.failed };
  }

  private send(event: string, data: unknown): void {
    this.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  }

  private write(chunk: string): void {
    if (!this.done && !this.res.destroyed && !this.res.writableEnded) this.res.write(chunk);
  }

  private finish(): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.timer);
    for (const callback of this.onEnd.splice(0)) callback();
  }
}
