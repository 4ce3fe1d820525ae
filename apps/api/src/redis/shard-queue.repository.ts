import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Queue, type JobType } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedis, REQUEST_REDIS_OPTIONS, QueueName, SHARD_EVENTS_MAX_LEN, shardJobId, shardJobOptions, type ShardPayload } from '../../../../libs/shared/src/index.js';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { logConnectionErrors } from './connection-errors.js';

const REMOVE_CONCURRENCY = 50;

/**
 * BullMQ priorities of shards (lower runs first). Every shard carries one: BullMQ hands out jobs
 * without a priority before all prioritized ones, so an unprioritized batch backlog would starve
 * interactive requests (POST /v1/embeddings), which must jump it.
 */
export const SHARD_PRIORITY = { interactive: 1, batch: 100 } as const;

/**
 * The API's side of the shard queue: it only adds and removes jobs. No Worker is ever created
 * here; inference runs in the worker processes, which open the same queue name and prefix.
 */
@Injectable()
export class ShardQueueRepository implements OnApplicationShutdown {
  private readonly logger = new Logger(ShardQueueRepository.name);
  private readonly connection: Redis;
  private readonly queue: Queue<ShardPayload>;

  constructor(@Inject(API_ENV) private readonly env: ApiEnv) {
    // A connection of its own, so queue commands never wait behind a large staging write.
    this.connection = createRedis(env.REDIS_URL, 'shardwise-api-queue', REQUEST_REDIS_OPTIONS);
    this.queue = new Queue<ShardPayload>(QueueName.Shards, {
      connection: this.connection,
      prefix: `${env.REDIS_PREFIX}:bull`,
      streams: { events: { maxLen: SHARD_EVENTS_MAX_LEN } },
    });
    logConnectionErrors(this.connection, 'queue connection', this.logger);
    logConnectionErrors(this.queue, 'shard queue', this.logger);
  }

  async addShards(payloads: readonly ShardPayload[], priority: number = SHARD_PRIORITY.batch): Promise<void> {
    if (payloads.length === 0) return;
    const opts = { ...shardJobOptions(this.env.SHARD_ATTEMPTS), priority };
    await this.queue.addBulk(payloads.map((data) => ({ name: QueueName.Shards, data, opts: { ...opts, jobId: shardJobId(data.jobId, data.shard) } })));
  }

  /**
   * Removes shards 0..count-1 that are still waiting. Active (locked) shards stay: their worker
   * sees the job's state and stops. Returns how many were removed.
   */
  async removeShards(jobId: string, count: number): Promise<number> {
    let removed = 0;
    for (let start = 0; start < count; start += REMOVE_CONCURRENCY) {
      const batch = Array.from({ length: Math.min(REMOVE_CONCURRENCY, count - start) }, (_, i) => start + i);
      const replies = await Promise.all(
        batch.map((shard) =>
          this.queue.remove(shardJobId(jobId, shard)).catch((error: unknown) => {
            this.logger.warn(`could not remove shard ${shard} of ${jobId}: ${(error as Error).message}`);
            return 0;
          }),
        ),
      );
      removed += replies.reduce((sum, n) => sum + n, 0);
    }
    return removed;
  }

  /** Shards per BullMQ state, for the queue gauges (read at scrape time). */
  async counts(states: readonly JobType[]): Promise<Record<string, number>> {
    return this.queue.getJobCounts(...states);
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue.close();
    await this.connection.quit().catch(() => this.connection.disconnect());
  }
}
