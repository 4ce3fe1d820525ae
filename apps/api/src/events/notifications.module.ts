import { Global, Logger, Module } from '@nestjs/common';
import { JobNotifier, JobStore } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { WebhookQueueRepository } from '../webhooks/webhook-queue.repository.js';

/**
 * The API's JobNotifier (libs/shared, the same one workers use): global so JobsService (cancel)
 * can announce terminal transitions without importing the events feature.
 */
@Global()
@Module({
  providers: [
    WebhookQueueRepository,
    {
      provide: JobNotifier,
      inject: [API_ENV, WebhookQueueRepository, JobStore],
      useFactory: (env: ApiEnv, webhooks: WebhookQueueRepository, jobs: JobStore): JobNotifier =>
        new JobNotifier({
          redisPrefix: env.REDIS_PREFIX,
          jobs,
          // The repository adds with these same options (from WEBHOOK_ATTEMPTS and WEBHOOK_BACKOFF_MS).
          webhookQueue: () => ({ add: (_name, delivery) => webhooks.add(delivery) }),
          publisher: () => webhooks.redis(),
          logger: new Logger(JobNotifier.name),
          webhookAttempts: env.WEBHOOK_ATTEMPTS,
          webhookBackoffMs: env.WEBHOOK_BACKOFF_MS,
          // A cancel answers its HTTP request after this: one try, and the outbox sweep does the rest.
          enqueueTries: 1,
        }),
    },
  ],
  exports: [JobNotifier],
})
export class NotificationsModule {}
