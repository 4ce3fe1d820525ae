import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { createRedis, REQUEST_REDIS_OPTIONS } from '../../../../libs/shared/src/index.js';
import { WEBHOOK_QUEUE, webhookJobOptions, type WebhookDelivery } from '../../../../libs/shared/src/webhooks/webhook-contract.js';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { logConnectionErrors } from '../redis/connection-errors.js';

/**
 * The API's side of the `webhooks` queue: it only adds deliveries (for the jobs it cancels).
 * Worker processes consume the queue; no BullMQ Worker is ever created in the API.
 * The connection is opened on first use and also carries the API's progress publishes.
 */
@Injectable()
export class WebhookQueueRepository implements OnApplicationShutdown {
  private readonly logger = new Logger(WebhookQueueRepository.name);
  private connection: Redis | undefined;
  private queue: Queue<WebhookDelivery> | undefined;

  constructor(@Inject(API_ENV) private readonly env: ApiEnv) {}

  /** The lazily opened command connection (PUBLISH and queue commands). */
  redis(): Redis {
    if (this.connection === undefined) {
      this.connection = createRedis(this.env.REDIS_URL, 'shardwise-api-notify', REQUEST_REDIS_OPTIONS);
      logConnectionErrors(this.connection, 'notify connection', this.logger);
    }
    return this.connection;
  }

  /** Adds the delivery of one terminal transition; a second add of the same transition is a no-op. */
  async add(delivery: WebhookDelivery): Promise<void> {
    if (this.queue === undefined) {
      this.queue = new Queue<WebhookDelivery>(WEBHOOK_QUEUE, { connection: this.redis(), prefix: `${this.env.REDIS_PREFIX}:bull` });
      logConnectionErrors(this.queue, 'webhook queue', this.logger);
    }
    await this.queue.add(delivery.event, delivery, webhookJobOptions(delivery, this.env.WEBHOOK_ATTEMPTS, this.env.WEBHOOK_BACKOFF_MS));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.queue?.close();
    await this.connection?.quit().catch(() => this.connection?.disconnect());
  }
}
