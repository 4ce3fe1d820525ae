import { Inject, Injectable, Logger } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { logConnectionErrors, WEBHOOK_QUEUE, webhookJobOptions, type WebhookDelivery } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { NOTIFY_REDIS } from '../redis/redis.tokens.js';

/**
 * The API's side of the `webhooks` queue: it only adds deliveries (for the jobs it cancels).
 * Worker processes consume the queue; no BullMQ Worker is ever created in the API.
 * The queue's connection also carries the API's progress publishes.
 */
@Injectable()
export class WebhookQueueRepository {
  private readonly logger = new Logger(WebhookQueueRepository.name);

  constructor(
    @InjectQueue(WEBHOOK_QUEUE) private readonly queue: Queue<WebhookDelivery>,
    @Inject(NOTIFY_REDIS) private readonly connection: Redis,
    @Inject(API_ENV) private readonly env: ApiEnv,
  ) {
    logConnectionErrors(this.queue, 'webhook queue', (line) => this.logger.warn(line));
  }

  /** The queue's command connection (PUBLISH). */
  redis(): Redis {
    return this.connection;
  }

  /** Adds the delivery of one terminal transition; a second add of the same transition is a no-op. */
  async add(delivery: WebhookDelivery): Promise<void> {
    await this.queue.add(delivery.event, delivery, webhookJobOptions(delivery, this.env.WEBHOOK_ATTEMPTS, this.env.WEBHOOK_BACKOFF_MS));
  }
}
