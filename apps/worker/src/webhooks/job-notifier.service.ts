import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { JobNotifier, JobStore, WEBHOOK_QUEUE, type WebhookDelivery } from '#shared';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { RedisService } from '../redis/redis.service.js';

/**
 * The worker's JobNotifier (libs/shared, the same one the API uses), called after each shard is
 * counted. It also sweeps the webhook outbox: every WEBHOOK_SWEEP_MS it queues the entries older
 * than that, left by a worker (or an API, for cancels) that died between finishing a job and
 * queueing its webhook.
 */
@Injectable()
export class JobNotifierService extends JobNotifier implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly env: WorkerEnv;
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    @Inject(WORKER_ENV) env: WorkerEnv,
    redis: RedisService,
    jobs: JobStore,
    // Registered in WorkerModule (BullModule.registerQueue); adding deliveries never blocks its connection.
    @InjectQueue(WEBHOOK_QUEUE) queue: Queue<WebhookDelivery>,
  ) {
    super({
      redisPrefix: env.REDIS_PREFIX,
      jobs,
      webhookQueue: () => queue,
      publisher: () => redis.client,
      logger: new Logger(JobNotifier.name),
      webhookAttempts: env.WEBHOOK_ATTEMPTS,
      webhookBackoffMs: env.WEBHOOK_BACKOFF_MS,
    });
    this.env = env;
  }

  onApplicationBootstrap(): void {
    const every = this.env.WEBHOOK_SWEEP_MS;
    this.sweepTimer = setInterval(() => {
      this.sweeping ??= this.sweep(Date.now() - every).finally(() => (this.sweeping = undefined));
    }, every);
    this.sweepTimer.unref();
  }

  /** After the shards in flight were drained (onModuleDestroy), before Redis closes. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.sweeping;
  }
}
