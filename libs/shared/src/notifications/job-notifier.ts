import type { JobsOptions } from 'bullmq';
import { TERMINAL_STATES, type JobRecord } from '../jobs/job-record.js';
import type { JobStore, ShardCountResult } from '../jobs/job-store.js';
import { progressChannel, type ProgressMessage } from '../events/progress-channel.js';
import { webhookDelivery, webhookJobOptions, type TerminalState, type WebhookDelivery } from '../webhooks/webhook-contract.js';

/** Where deliveries go: the `webhooks` BullMQ queue (a `Queue<WebhookDelivery>` fits). */
export interface WebhookQueuePort {
  add(name: string, delivery: WebhookDelivery, opts: JobsOptions): Promise<unknown>;
}

/** A Redis command connection (ioredis fits); used for PUBLISH only. */
export interface ProgressPublisher {
  publish(channel: string, message: string): Promise<unknown>;
}

export interface NotifierLogger {
  warn(message: string): void;
  error(message: string): void;
}

export interface JobNotifierOptions {
  redisPrefix: string;
  jobs: JobStore;
  /** Called on each use, so a connection opened lazily is only opened when needed. */
  webhookQueue: () => WebhookQueuePort;
  publisher: () => ProgressPublisher;
  logger: NotifierLogger;
  /** WEBHOOK_ATTEMPTS and WEBHOOK_BACKOFF_MS of the deliveries it queues. */
  webhookAttempts: number;
  webhookBackoffMs: number;
  /**
   * Tries at queueing a delivery before giving up (the webhook outbox keeps it for a worker's sweep).
   * @defaultValue `3`
   */
  enqueueTries?: number;
}

/**
 * What happens when a job moves on, in the API (it cancels jobs) and in workers (they count shards
 * and finish jobs): live progress streams are nudged (`${prefix}:progress:<jobId>`), and a job that
 * reached a terminal state has its webhook queued, which takes it out of the webhook outbox
 * (JobKeys.webhookOutbox) that the same transition put it in. Never throws: the transition has
 * happened, and its caller's answer (or BullMQ's retry of a counted shard) must not depend on this.
 * The delivery's job id is deterministic, so a sweep racing the original adds it once.
 */
export class JobNotifier {
  constructor(private readonly options: JobNotifierOptions) {}

  /** After this process moved `job` to a terminal state itself (the API's cancel). */
  async jobTerminal(job: JobRecord): Promise<void> {
    if (!TERMINAL_STATES.includes(job.state)) return;
    const state = job.state as TerminalState;
    if (job.callbackUrl) {
      try {
        await this.queueWebhook(job, job.callbackUrl, state);
      } catch (error) {
        this.options.logger.error(`could not queue the ${state} webhook of job ${job.id}: ${(error as Error).message}`);
      }
    }
    await this.publish(job.id, { kind: state === 'cancelled' ? 'cancelled' : 'finished' });
  }

  /** After a shard was counted; 'job-finished' (answered exactly once per job) also queues the webhook. */
  async shardCounted(jobId: string, shard: number, result: ShardCountResult): Promise<void> {
    if (result !== 'counted' && result !== 'job-finished') return;
    try {
      if (result === 'job-finished') await this.jobFinished(jobId);
    } catch (error) {
      this.options.logger.error(`could not queue the webhook of job ${jobId}: ${(error as Error).message}`);
    }
    await this.publish(jobId, { kind: result === 'job-finished' ? 'finished' : 'shard', shard });
  }

  /** Queues the deliveries of outbox entries due before `dueBefore` (ms), left by a process that died in between. Never throws. */
  async sweep(dueBefore: number): Promise<void> {
    try {
      for (const jobId of await this.options.jobs.webhooksDue(dueBefore)) {
        this.options.logger.warn(`job ${jobId}: queueing a webhook that was left unqueued (its process stopped after finishing the job)`);
        await this.jobFinished(jobId);
      }
    } catch (error) {
      this.options.logger.error(`webhook outbox sweep failed: ${(error as Error).message}`);
    }
  }

  private async jobFinished(jobId: string): Promise<void> {
    const job = await this.options.jobs.get(jobId);
    if (job === null || !job.callbackUrl || !TERMINAL_STATES.includes(job.state)) {
      // Nothing to deliver (the job was deleted, or never had a callback): nothing to keep either.
      await this.options.jobs.webhookQueued(jobId);
      return;
    }
    await this.queueWebhook(job, job.callbackUrl, job.state as TerminalState);
  }

  private async queueWebhook(job: JobRecord, url: string, state: TerminalState): Promise<void> {
    const { webhookAttempts, webhookBackoffMs, enqueueTries = 3 } = this.options;
    const delivery = webhookDelivery(job, url, state);
    const opts = webhookJobOptions(delivery, webhookAttempts, webhookBackoffMs);
    for (let attempt = 1; ; attempt++) {
      try {
        // The deterministic id makes a repeated add (this loop after a lost reply) a no-op.
        await this.options.webhookQueue().add(delivery.event, delivery, opts);
        await this.options.jobs.webhookQueued(job.id);
        return;
      } catch (error) {
        if (attempt >= enqueueTries) throw error;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  private async publish(jobId: string, message: ProgressMessage): Promise<void> {
    try {
      await this.options.publisher().publish(progressChannel(this.options.redisPrefix, jobId), JSON.stringify(message));
    } catch (error) {
      this.options.logger.warn(`could not publish progress of job ${jobId}: ${(error as Error).message}`);
    }
  }
}
