import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedis } from '../../../../libs/shared/src/index.js';
import { WEBHOOK_QUEUE, type WebhookDelivery } from '../../../../libs/shared/src/webhooks/webhook-contract.js';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { closeRedis } from '../redis/redis.service.js';
import { deliverWebhook } from './webhook-delivery.js';

/**
 * Consumes the `webhooks` queue: POSTs each job's view to its callback_url, signed when
 * WEBHOOK_SECRET is set. A failed attempt (non-2xx, timeout, network error) is retried by BullMQ
 * with exponential backoff (WEBHOOK_ATTEMPTS, WEBHOOK_BACKOFF_MS). Runs beside the shard consumer
 * in every worker process; the API only adds to this queue.
 */
@Injectable()
export class WebhookConsumerService implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WebhookConsumerService.name);
  private worker: Worker<WebhookDelivery, number> | undefined;
  private connection: Redis | undefined;

  constructor(@Inject(WORKER_ENV) private readonly env: WorkerEnv) {}

  async onApplicationBootstrap(): Promise<void> {
    if (!this.env.WEBHOOK_SECRET) this.logger.warn('WEBHOOK_SECRET is not set: job webhooks are sent without an X-Shardwise-Signature header');
    this.connection = createRedis(this.env.REDIS_URL, 'shardwise-worker-webhooks');
    const worker = new Worker<WebhookDelivery, number>(WEBHOOK_QUEUE, (job) => this.deliver(job), {
      connection: this.connection,
      prefix: `${this.env.REDIS_PREFIX}:bull`,
      concurrency: this.env.WEBHOOK_CONCURRENCY,
      // A delivery is one HTTP call bounded by WEBHOOK_TIMEOUT_MS; the lock only has to outlast that.
      lockDuration: Math.max(30_000, this.env.WEBHOOK_TIMEOUT_MS * 2),
      autorun: false,
    });
    worker.on('failed', (job, error) => {
      if (job === undefined) return;
      const attempts = job.opts.attempts ?? 1;
      if (job.attemptsMade >= attempts) {
        this.logger.error(`webhook ${job.id} to ${redact(job.data.url)} given up after ${job.attemptsMade} attempt(s): ${error.message}`);
      } else {
        this.logger.warn(`webhook ${job.id} attempt ${job.attemptsMade}/${attempts} failed, will retry: ${error.message}`);
      }
    });
    worker.on('error', (error) => this.logger.error(`webhook consumer: ${error.message}`));
    this.worker = worker;
    await worker.waitUntilReady();
    worker.run().catch((error: Error) => this.logger.error(`webhook consumer stopped: ${error.message}`));
  }

  private async deliver(job: Job<WebhookDelivery, number>): Promise<number> {
    const status = await deliverWebhook(job.data, {
      deliveryId: job.id ?? '',
      attempt: job.attemptsMade + 1,
      secret: this.env.WEBHOOK_SECRET,
      timeoutMs: this.env.WEBHOOK_TIMEOUT_MS,
    });
    this.logger.log(`webhook ${job.data.event} of ${job.data.jobId} delivered (HTTP ${status}, attempt ${job.attemptsMade + 1})`);
    return status;
  }

  async onModuleDestroy(): Promise<void> {
    await this.worker?.close();
    if (this.connection !== undefined) await closeRedis(this.connection);
  }
}

/** Callback URLs may carry tokens in their query: logs show scheme, host and path only. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.protocol}//${parsed.host}${parsed.pathname}`;
  } catch {
    return '(invalid url)';
  }
}
