import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedis, QueueName, type ShardOutcome, LogThrottle } from '../../../../libs/shared/src/index.js';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { ModelService } from '../inference/model.service.js';
import { WorkerMetricsService } from '../metrics/worker-metrics.service.js';
import { closeRedis } from '../redis/redis.service.js';
import { ShardFailureService } from './shard-failure.service.js';
import { ShardProcessorService } from './shard-processor.service.js';

/** A shard whose worker died twice (its lock expired twice) fails instead of killing a third worker. */
const MAX_STALLED_COUNT = 2;

/**
 * The BullMQ consumer of the `shards` queue. It is created with autorun off and only runs once the
 * pool and the preloaded models are ready; on shutdown it stops fetching and waits for the shards
 * in flight (and their failure handling) before the pool and Redis close.
 */
@Injectable()
export class ShardConsumerService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ShardConsumerService.name);
  private readonly errorLog = new LogThrottle();
  private worker: Worker<unknown, ShardOutcome | null> | undefined;
  private connection: Redis | undefined;
  private readonly failureHandlers = new Set<Promise<void>>();
  private closing = false;
  private stopped = false;

  constructor(
    @Inject(WORKER_ENV) private readonly env: WorkerEnv,
    private readonly models: ModelService,
    private readonly processor: ShardProcessorService,
    private readonly failures: ShardFailureService,
    private readonly metrics: WorkerMetricsService,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    // ModelService bootstraps first because this service depends on it (through the processor); check it anyway.
    if (!this.models.isReady()) throw new Error('shard consumer started before the inference pool was ready');
    this.connection = createRedis(this.env.REDIS_URL, 'shardwise-worker-bullmq');
    const worker = new Worker<unknown, ShardOutcome | null>(QueueName.Shards, (job) => this.processor.process(job), {
      connection: this.connection,
      prefix: `${this.env.REDIS_PREFIX}:bull`,
      concurrency: this.env.WORKER_CONCURRENCY,
      lockDuration: this.env.SHARD_LOCK_MS,
      stalledInterval: this.env.SHARD_LOCK_MS,
      maxStalledCount: MAX_STALLED_COUNT,
      autorun: false,
    });
    worker.on('failed', (job, error) => {
      if (job !== undefined) this.track(this.failures.onFailedAttempt(job, error));
    });
    // An 'error' without a listener would crash the process; BullMQ reconnects by itself.
    worker.on('error', (error) => {
      this.metrics.error('consumer');
      // Throttled: BullMQ reports every reconnect attempt while Redis is away.
      this.errorLog.log(`BullMQ worker: ${error.message}`, (line) => this.logger.error(line));
    });
    worker.on('stalled', (jobId) => {
      this.metrics.error('shard_stalled');
      this.logger.warn(`shard job ${jobId} stalled (its worker stopped renewing the lock); queued again`);
    });
    this.worker = worker;
    await worker.waitUntilReady();
    worker.run().then(
      () => (this.stopped = true),
      (error: Error) => {
        this.stopped = true;
        this.logger.error(`BullMQ worker stopped: ${error.message}`);
      },
    );
  }

  /** For /healthz: false once the consumer has stopped for good. */
  isAlive(): boolean {
    return !this.stopped;
  }

  /** For /readyz: taking shards now. */
  isConsuming(): boolean {
    return this.worker?.isRunning() === true && !this.closing && !this.stopped;
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    if (this.worker !== undefined) {
      this.logger.log('stopping: taking no new shards, waiting for the shards in flight');
      await this.worker.close();
    }
    await Promise.allSettled([...this.failureHandlers]);
    if (this.connection !== undefined) await closeRedis(this.connection);
    this.stopped = true;
  }

  private track(handling: Promise<void>): void {
    const tracked = handling.catch((error: Error) => this.logger.error(`could not record a failed shard: ${error.message}`));
    this.failureHandlers.add(tracked);
    void tracked.finally(() => this.failureHandlers.delete(tracked));
  }
}
