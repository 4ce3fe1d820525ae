import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { JobStore, type JobRecord, progressChannel } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { RedisConnectionsService } from '../redis/redis-connections.service.js';

export interface ProgressListener {
  /** The job as it is now; null once its record is gone. */
  update(job: JobRecord | null): void;
  /** The API is shutting down: end the stream (clients reconnect or fall back to polling). */
  close(): void;
}

interface Watched {
  jobId: string;
  channel: string;
  listeners: Set<ProgressListener>;
  /** Resolves once Redis confirmed the subscription. */
  subscribed: Promise<unknown>;
  fetching: boolean;
  again: boolean;
}

/** Re-reads every watched job this often, in case a publish was missed (Redis reconnect, a worker killed mid-notify). */
const SWEEP_MS = 10_000;

/**
 * Fans job progress out to the live streams of this API process. ONE subscriber connection per
 * process, subscribed to `${prefix}:progress:<jobId>` for exactly the jobs that have listeners; a
 * message (from a worker after each counted shard, or from a cancel) makes the hub read the job
 * record once and hand it to every listener of that job. No per-client connection or poll.
 */
@Injectable()
export class ProgressHub implements BeforeApplicationShutdown, OnApplicationShutdown {
  private readonly logger = new Logger(ProgressHub.name);
  private readonly watched = new Map<string, Watched>();
  private readonly byChannel = new Map<string, Watched>();
  private subscriber: Redis | undefined;
  private sweep: NodeJS.Timeout | undefined;

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly jobs: JobStore,
    private readonly connections: RedisConnectionsService,
  ) {}

  /** Listeners across all jobs (for tests and metrics). */
  get listenerCount(): number {
    let n = 0;
    for (const w of this.watched.values()) n += w.listeners.size;
    return n;
  }

  /**
   * Registers a listener and resolves once the subscription is active, so a caller that reads the
   * job after this cannot miss an update published in between. Returns the function that removes it.
   */
  async watch(jobId: string, listener: ProgressListener): Promise<() => void> {
    let entry = this.watched.get(jobId);
    if (entry === undefined) {
      const channel = progressChannel(this.env.REDIS_PREFIX, jobId);
      const created: Watched = { jobId, channel, listeners: new Set(), subscribed: Promise.resolve(), fetching: false, again: false };
      created.subscribed = this.connection().subscribe(channel);
      this.watched.set(jobId, created);
      this.byChannel.set(channel, created);
      entry = created;
      this.startSweep();
    }
    entry.listeners.add(listener);
    const current = entry;
    const remove = () => this.unwatch(current, listener);
    try {
      await entry.subscribed;
    } catch (error) {
      remove();
      throw error;
    }
    return remove;
  }

  private unwatch(entry: Watched, listener: ProgressListener): void {
    if (!entry.listeners.delete(listener) || entry.listeners.size > 0) return;
    if (this.watched.get(entry.jobId) !== entry) return;
    this.watched.delete(entry.jobId);
    this.byChannel.delete(entry.channel);
    // Commands on one connection run in order: a new watch of the same job subscribes after this.
    this.subscriber?.unsubscribe(entry.channel).catch((error: Error) => this.logger.warn(`unsubscribe ${entry.channel}: ${error.message}`));
    if (this.watched.size === 0) this.stopSweep();
  }

  private connection(): Redis {
    if (this.subscriber === undefined) {
      // Closed at shutdown with the API's other connections.
      const subscriber = this.connections.open('shardwise-api-events');
      subscriber.on('message', (channel: string) => {
        const entry = this.byChannel.get(channel);
        if (entry !== undefined) this.refresh(entry);
      });
      // ioredis subscribes again after a reconnect; what was published meanwhile is re-read here.
      let connectedOnce = false;
      subscriber.on('ready', () => {
        if (connectedOnce) for (const entry of this.watched.values()) this.refresh(entry);
        connectedOnce = true;
      });
      this.subscriber = subscriber;
    }
    return this.subscriber;
  }

  /** One read per job however many listeners it has; updates arriving during a read cause one more. */
  private refresh(entry: Watched): void {
    if (entry.fetching) {
      entry.again = true;
      return;
    }
    entry.fetching = true;
    void (async () => {
      try {
        do {
          entry.again = false;
          const job = await this.jobs.get(entry.jobId);
          for (const listener of [...entry.listeners]) {
            try {
              listener.update(job);
            } catch (error) {
              this.logger.warn(`progress listener of ${entry.jobId} failed: ${(error as Error).message}`);
            }
          }
        } while (entry.again && entry.listeners.size > 0);
      } catch (error) {
        this.logger.warn(`could not read job ${entry.jobId} for its progress stream: ${(error as Error).message}`);
      } finally {
        entry.fetching = false;
      }
    })();
  }

  private startSweep(): void {
    if (this.sweep !== undefined) return;
    this.sweep = setInterval(() => {
      for (const entry of this.watched.values()) this.refresh(entry);
    }, SWEEP_MS);
    this.sweep.unref();
  }

  private stopSweep(): void {
    clearInterval(this.sweep);
    this.sweep = undefined;
  }

  /** Before the HTTP server closes: it waits for open connections, and an event stream never ends by itself. */
  beforeApplicationShutdown(): void {
    this.stopSweep();
    const listeners = [...this.watched.values()].flatMap((entry) => [...entry.listeners]);
    for (const listener of listeners) listener.close();
  }

  onApplicationShutdown(): void {
    this.watched.clear();
    this.byChannel.clear();
  }
}
