import { Global, Module } from '@nestjs/common';
import { WebhookQueueRepository } from '../webhooks/webhook-queue.repository.js';
import { JobNotificationsService } from './job-notifications.service.js';

/** Global so JobsService (cancel) can announce terminal transitions without importing the events feature. */
@Global()
@Module({
  providers: [WebhookQueueRepository, JobNotificationsService],
  exports: [JobNotificationsService],
})
export class NotificationsModule {}
