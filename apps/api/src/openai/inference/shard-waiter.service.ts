import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Job, Queue, QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedis, QueueName, SHARD_EVENTS_MAX_LEN, shardJobId } from '../../../../../libs/shared/src/index.js';
import { API_ENV, type ApiEnv } from '../../config/api-env.js';
import { logConnectionErrors } from '../../redis/connection-errors.js';
import { REDIS } from '../../redis/redis.tokens.js';

export class WaitTimeoutError extends Error {
  override readonly name = 'WaitTimeoutError';
}

export class ShardFailedError extends Error {
  override readonly name = 'ShardFailedError';
}

/**
 * Waits for a job's shards to finish through BullMQ's QueueEvents (one blocking XREAD on the
 * queue's event stream for the whole process): Job.waitUntilFinished subscribes first and then
 * checks the shard's state once, so a shard finished before the wait began is not missed, and
 * nothing polls. This is the API's only listener on the queue; it never consumes shards.
 */
@Injectable()
export class ShardWaiterService implements OnApplicationShutdown {
  private readonly logger = new Logger(ShardWaiterService.name);
  private readonly events: QueueEvents;
  private readonly eventsConnection: Redis;
  private readonly queue: Queue;

  constructor(@Inject(API_ENV) env: ApiEnv, @Inject(REDIS) redis: Redis) {
    const prefix = `${env.REDIS_PREFIX}:bull`;
    // XREAD BLOCK holds its connection: one of its own.
    this.eventsConnection = createRedis(env.REDIS_URL, 'shardwise-api-queue-events');
    this.events = new QueueEvents(QueueName.Shards, { connection: this.eventsConnection, prefix });
    // Only read here (job state for waitUntilFinished); the shared command connection does.
    this.queue = new Queue(QueueName.Shards, { connection: redis, prefix, streams: { events: { maxLen: SHARD_EVENTS_MAX_LEN } } });
    // Every waiting request listens for the queue's closing: many may wait at once.
    this.queue.setMaxListeners(0);
    logConnectionErrors(this.eventsConnection, 'queue events connection', this.logger);
    logConnectionErrors(this.events, 'queue events', this.logger);
  }

  /** Resolves when every shard completed; ShardFailedError when one failed for good, WaitTimeoutError after timeoutMs. */
  async waitForShards(jobId: string, shards: number, timeoutMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new WaitTimeoutError(`shards of ${jobId} not finished after ${timeoutMs} ms`)), timeoutMs);
    });
    const waits = Array.from({ length: shards }, (_, shard) => {
      const job = new Job(this.queue, QueueName.Shards, {}, {}, shardJobId(jobId, shard));
      // The ttl (a little over ours) only unhooks the listeners of a wait given up on.
      return job.waitUntilFinished(this.events, timeoutMs + 1000).catch((error: Error) => {
        throw new ShardFailedError(error.message);
      });
    });
    // Late rejections after a timeout or another failure are expected; keep them handled.
    for (const wait of waits) wait.catch(() => undefined);
    try {
      await Promise.race([Promise.all(waits), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async onApplicationShutdown(): Promise<void> {
    await this.events.close().catch(() => undefined);
    await this.queue.close().catch(() => undefined);
    await this.eventsConnection.quit().catch(() => this.eventsConnection.disconnect());
  }
}
