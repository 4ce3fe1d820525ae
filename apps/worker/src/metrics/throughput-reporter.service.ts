import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import { OpsStore } from '#shared';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { RedisService } from '../redis/redis.service.js';
import { WorkerMetricsService } from './worker-metrics.service.js';

/** How often a worker publishes its recent throughput, and how long a report stays valid without a refresh. */
export const REPORT_INTERVAL_MS = 5_000;
export const REPORT_TTL_SECONDS = 30;

/**
 * Publishes this worker's recent throughput (tokens finished and busy seconds over the last five
 * minutes) to Redis every few seconds, with a TTL, so any API replica can compute the same
 * autoscaling signal (shardwise_backlog_worker_seconds); a worker that dies stops counting when its
 * report expires, one that stops takes it back. Also exports the batch limits as gauges.
 */
@Injectable()
export class ThroughputReporterService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ThroughputReporterService.name);
  /** Pod name in Kubernetes (the hostname), plus pid and a random suffix: unique per process. */
  readonly workerId = `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly ops: OpsStore;
  private timer: NodeJS.Timeout | undefined;
  private publishing: Promise<void> | undefined;
  private failing = false;

  constructor(
    @Inject(WORKER_ENV) private readonly env: WorkerEnv,
    redis: RedisService,
    private readonly metrics: WorkerMetricsService,
  ) {
    this.ops = new OpsStore(redis.client, env.REDIS_PREFIX);
  }

  onApplicationBootstrap(): void {
    this.metrics.setBatchLimits(this.env.MAX_BATCH_TOKENS, this.env.MAX_BATCH_SIZE);
    this.timer = setInterval(() => void this.publish(), REPORT_INTERVAL_MS);
    this.timer.unref();
    void this.publish();
  }

  /** Runs after the consumer drained (onModuleDestroy) and before Redis closes (onApplicationShutdown). */
  async beforeApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.publishing;
    await this.ops.withdrawThroughput(this.workerId).catch(() => undefined);
  }

  publish(): Promise<void> {
    if (this.publishing !== undefined) return this.publishing;
    const report = this.metrics.activitySnapshot();
    this.publishing = this.ops
      .publishThroughput(this.workerId, report, REPORT_TTL_SECONDS)
      .then(
        () => {
          if (this.failing) this.logger.log('throughput reports reach Redis again');
          this.failing = false;
        },
        (error: Error) => {
          this.metrics.error('throughput_report');
          if (!this.failing) this.logger.warn(`could not publish throughput to Redis: ${error.message}`);
          this.failing = true;
        },
      )
      .finally(() => (this.publishing = undefined));
    return this.publishing;
  }
}
