import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { JobType, Queue } from 'bullmq';
import { logConnectionErrors, QueueName, shardJobId, shardJobOptions, type ShardPayload } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';

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
export class ShardQueueRepository {
  private readonly logger = new Logger(ShardQueueRepository.name);

  constructor(
    @InjectQueue(QueueName.Shards) private readonly queue: Queue<ShardPayload>,
    @Inject(API_ENV) private readonly env: ApiEnv,
  ) {
    logConnectionErrors(this.queue, 'shard queue', (line) => this.logger.warn(line));
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
}
