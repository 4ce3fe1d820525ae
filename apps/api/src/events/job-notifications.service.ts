import { Inject, Injectable, Logger } from '@nestjs/common';
import { JobStore, TERMINAL_STATES, type JobRecord } from '../../../../libs/shared/src/index.js';
import { progressChannel, type ProgressMessage } from '../../../../libs/shared/src/events/progress-channel.js';
import { webhookDelivery, type TerminalState } from '../../../../libs/shared/src/webhooks/webhook-contract.js';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { WebhookQueueRepository } from '../webhooks/webhook-queue.repository.js';

/**
 * What the API does after it moved a job to a terminal state itself (cancel): tell live progress
 * streams, and queue the job's webhook. Workers do the same for the jobs they finish, and queue the
 * webhooks of cancels whose API stopped before doing it (the webhook outbox, JobNotifierService).
 * Never throws: the transition has happened, and its caller's answer should not depend on this.
 */
@Injectable()
export class JobNotificationsService {
  private readonly logger = new Logger(JobNotificationsService.name);

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly webhooks: WebhookQueueRepository,
    private readonly jobs: JobStore,
  ) {}

  async jobTerminal(job: JobRecord): Promise<void> {
    if (!TERMINAL_STATES.includes(job.state)) return;
    const state = job.state as TerminalState;
    if (job.callbackUrl) {
      try {
        await this.webhooks.add(webhookDelivery(job, job.callbackUrl, state));
        // The cancel put the job in the webhook outbox; queued now, so no worker's sweep needs to.
        await this.jobs.webhookQueued(job.id);
      } catch (error) {
        this.logger.error(`could not queue the ${state} webhook of job ${job.id}: ${(error as Error).message}`);
      }
    }
    try {
      const message: ProgressMessage = { kind: state === 'cancelled' ? 'cancelled' : 'finished' };
      await this.webhooks.redis().publish(progressChannel(this.env.REDIS_PREFIX, job.id), JSON.stringify(message));
    } catch (error) {
      this.logger.warn(`could not publish progress of job ${job.id}: ${(error as Error).message}`);
    }
  }
}
