import { Inject, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import type { Job, WorkerOptions } from 'bullmq';
import { WEBHOOK_QUEUE, type WebhookDelivery } from '#shared';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { deliverWebhook } from './webhook-delivery.js';

/** With no delivery in flight, how long shutdown waits for BullMQ to let go of Redis (a fetch it cannot finish while Redis is down). */
const IDLE_CLOSE_MS = 1000;

/** Options of the BullMQ Worker behind this processor, from the validated environment (applied in WorkerModule.forRoot). */
export function webhookWorkerOptions(env: WorkerEnv): Omit<WorkerOptions, 'connection'> {
  return {
    concurrency: env.WEBHOOK_CONCURRENCY,
    // A delivery is one HTTP call bounded by WEBHOOK_TIMEOUT_MS; the lock only has to outlast that.
    lockDuration: Math.max(30_000, env.WEBHOOK_TIMEOUT_MS * 2),
    autorun: false,
  };
}

/**
 * Consumes the `webhooks` queue: POSTs each job's view to its callback_url, signed when
 * WEBHOOK_SECRET is set. A failed attempt (non-2xx, timeout, network error) is retried by BullMQ
 * with exponential backoff (WEBHOOK_ATTEMPTS, WEBHOOK_BACKOFF_MS). Runs beside the shard consumer
 * in every worker process; the API only adds to this queue.
 */
@Processor(WEBHOOK_QUEUE, { autorun: false })
export class WebhookConsumerService extends WorkerHost implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(WebhookConsumerService.name);
  private inFlight = 0;

  constructor(@Inject(WORKER_ENV) private readonly env: WorkerEnv) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    if (!this.env.WEBHOOK_SECRET) this.logger.warn('WEBHOOK_SECRET is not set: job webhooks are sent without an X-Shardwise-Signature header');
    await this.worker.waitUntilReady();
    this.worker.run().catch((error: Error) => this.logger.error(`webhook consumer stopped: ${error.message}`));
  }

  async process(job: Job<WebhookDelivery, number>): Promise<number> {
    this.inFlight++;
    try {
      return await this.deliver(job);
    } finally {
      this.inFlight--;
    }
  }

  /** Deliveries being sent now (main.ts sizes its exit deadline by them). */
  deliveriesInFlight(): number {
    return this.inFlight;
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

  @OnWorkerEvent('failed')
  onFailed(job: Job<WebhookDelivery, number> | undefined, error: Error): void {
    if (job === undefined) return;
    const attempts = job.opts.attempts ?? 1;
    if (job.attemptsMade >= attempts) {
      this.logger.error(`webhook ${job.id} to ${redact(job.data.url)} given up after ${job.attemptsMade} attempt(s): ${error.message}`);
    } else {
      this.logger.warn(`webhook ${job.id} attempt ${job.attemptsMade}/${attempts} failed, will retry: ${error.message}`);
    }
  }

  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.logger.error(`webhook consumer: ${error.message}`);
  }

  async onModuleDestroy(): Promise<void> {
    // Deliveries in flight end within WEBHOOK_TIMEOUT_MS; with none, BullMQ's close only waits for
    // Redis, which may be down: bounded either way (a delivery cut short is retried by BullMQ).
    const limitMs = this.inFlight > 0 ? Math.min(this.env.SHUTDOWN_GRACE_MS, this.env.WEBHOOK_TIMEOUT_MS + 1000) : IDLE_CLOSE_MS;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, limitMs);
    });
    await Promise.race([this.worker.close().catch(() => undefined), timeout]);
    clearTimeout(timer);
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
