import { Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import { Job, QueueEvents, type Queue } from 'bullmq';
import { logConnectionErrors, QueueName, shardJobId } from '#shared';
import { RedisConnectionsService } from '../../redis/redis-connections.service.js';

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

  constructor(
    // Only read here (job state for waitUntilFinished).
    @InjectQueue(QueueName.Shards) private readonly queue: Queue,
    connections: RedisConnectionsService,
  ) {
    // XREAD BLOCK holds its connection: one of its own (closed with the others by RedisConnectionsService).
    const connection = connections.open('shardwise-api-queue-events');
    this.events = new QueueEvents(QueueName.Shards, { connection, prefix: queue.opts.prefix });
    // Every waiting request listens for the queue's closing: many may wait at once.
    this.queue.setMaxListeners(0);
    logConnectionErrors(this.events, 'queue events', (line) => this.logger.warn(line));
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
  }
}
