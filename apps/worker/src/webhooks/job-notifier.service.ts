import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { InjectQueue } from '@nestjs/bullmq';
import type { Queue } from 'bullmq';
import { JobStore, TERMINAL_STATES, type ShardCountResult } from '../../../../libs/shared/src/index.js';
import { progressChannel, type ProgressMessage } from '../../../../libs/shared/src/events/progress-channel.js';
import { WEBHOOK_QUEUE, webhookDelivery, webhookJobOptions, type TerminalState, type WebhookDelivery } from '../../../../libs/shared/src/webhooks/webhook-contract.js';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { RedisService } from '../redis/redis.service.js';

const ENQUEUE_TRIES = 3;

/**
 * After a shard is counted: nudges live progress streams (`${prefix}:progress:<jobId>`), and when
 * that count finished the job (completeShard answered 'job-finished', which happens exactly once
 * per job) queues the job's webhook. Never throws: the shard is counted, and failing it now would
 * only make BullMQ retry a shard that is already done.
 *
 * The count that finished the job also put it in the webhook outbox (JobKeys.webhookOutbox), in the
 * same Lua step; queueing the delivery takes it out. Every WEBHOOK_SWEEP_MS each worker queues the
 * entries older than that, left by a worker (or an API, for cancels) that died in between. The
 * delivery's job id is deterministic, so two sweepers, or a sweep racing the original, add it once.
 */
@Injectable()
export class JobNotifierService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(JobNotifierService.name);
  private sweepTimer: NodeJS.Timeout | undefined;
  private sweeping: Promise<void> | undefined;

  constructor(
    @Inject(WORKER_ENV) private readonly env: WorkerEnv,
    private readonly redis: RedisService,
    private readonly jobs: JobStore,
    @InjectQueue(WEBHOOK_QUEUE) private readonly queue: Queue<WebhookDelivery>,
  ) {}

  async shardCounted(jobId: string, shard: number, result: ShardCountResult): Promise<void> {
    if (result !== 'counted' && result !== 'job-finished') return;
    try {
      if (result === 'job-finished') await this.jobFinished(jobId);
    } catch (error) {
      this.logger.error(`could not queue the webhook of job ${jobId}: ${(error as Error).message}`);
    }
    try {
      const message: ProgressMessage = { kind: result === 'job-finished' ? 'finished' : 'shard', shard };
      await this.redis.client.publish(progressChannel(this.env.REDIS_PREFIX, jobId), JSON.stringify(message));
    } catch (error) {
      this.logger.warn(`could not publish progress of job ${jobId}: ${(error as Error).message}`);
    }
  }

  onApplicationBootstrap(): void {
    const every = this.env.WEBHOOK_SWEEP_MS;
    this.sweepTimer = setInterval(() => {
      this.sweeping ??= this.sweep(Date.now() - every).finally(() => (this.sweeping = undefined));
    }, every);
    this.sweepTimer.unref();
  }

  /** Queues the deliveries of outbox entries due before `dueBefore` (ms). Never throws. */
  async sweep(dueBefore: number): Promise<void> {
    try {
      for (const jobId of await this.jobs.webhooksDue(dueBefore)) {
        this.logger.warn(`job ${jobId}: queueing a webhook that was left unqueued (its process stopped after finishing the job)`);
        await this.jobFinished(jobId);
      }
    } catch (error) {
      this.logger.error(`webhook outbox sweep failed: ${(error as Error).message}`);
    }
  }

  private async jobFinished(jobId: string): Promise<void> {
    const job = await this.jobs.get(jobId);
    if (job === null || !job.callbackUrl || !TERMINAL_STATES.includes(job.state)) {
      // Nothing to deliver (the job was deleted, or never had a callback): nothing to keep either.
      await this.jobs.webhookQueued(jobId);
      return;
    }
    const delivery = webhookDelivery(job, job.callbackUrl, job.state as TerminalState);
    const opts = webhookJobOptions(delivery, this.env.WEBHOOK_ATTEMPTS, this.env.WEBHOOK_BACKOFF_MS);
    for (let attempt = 1; ; attempt++) {
      try {
        // The deterministic id makes a repeated add (this loop after a lost reply) a no-op.
        await this.webhookQueue().add(delivery.event, delivery, opts);
        await this.jobs.webhookQueued(jobId);
        return;
      } catch (error) {
        if (attempt >= ENQUEUE_TRIES) throw error;
        await new Promise((r) => setTimeout(r, 200 * attempt));
      }
    }
  }

  private webhookQueue(): Queue<WebhookDelivery> {
    return this.queue;
  }

  /** After the shards in flight were drained (onModuleDestroy), before Redis closes. */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.sweepTimer);
    await this.sweeping;
  }
}
