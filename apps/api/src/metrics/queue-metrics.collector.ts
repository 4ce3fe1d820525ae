import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { Counter, Gauge } from 'prom-client';
import { autoscaleSignal, JOB_STATES, OpsStore, type AutoscaleSignal, type OpsSnapshot } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { REDIS } from '../redis/redis.tokens.js';
import { ShardQueueRepository } from '../redis/shard-queue.repository.js';
import { MetricsService } from './metrics.service.js';

/** BullMQ states of shards that the queue gauges report. */
export const SHARD_STATES = ['waiting', 'active', 'delayed', 'prioritized', 'failed'] as const;

/** One scrape reads Redis once: gauges collected within this window share a snapshot. */
const SNAPSHOT_REUSE_MS = 250;

interface QueueSnapshot {
  ops: OpsSnapshot;
  shards: Record<string, number>;
  signal: AutoscaleSignal;
}

/**
 * Queue-wide gauges of the API, read from Redis at scrape time: jobs per state, shards per BullMQ
 * state, the unfinished backlog in texts and tokens, and the workers' autoscaling signal. Every
 * API replica reads the same Redis, so every replica reports the same values (dashboards and
 * autoscalers take max(), not sum()). When Redis cannot be read, the gauges keep their last values
 * and shardwise_api_metrics_collect_errors_total counts the failure.
 */
@Injectable()
export class QueueMetricsCollector {
  private readonly logger = new Logger(QueueMetricsCollector.name);
  private readonly ops: OpsStore;
  private current: { at: number; snapshot: Promise<QueueSnapshot | undefined> } | undefined;
  private lastError = 0;
  private readonly errors: Counter;

  constructor(
    metrics: MetricsService,
    @Inject(REDIS) redis: Redis,
    private readonly queue: ShardQueueRepository,
    @Inject(API_ENV) private readonly env: ApiEnv,
  ) {
    this.ops = new OpsStore(redis, env.REDIS_PREFIX);
    const registers = [metrics.registry];
    const read = () => this.read();
    this.errors = new Counter({
      name: 'shardwise_api_metrics_collect_errors_total',
      help: 'Scrapes whose queue gauges could not be read from Redis (the gauges kept their previous values).',
      registers,
    });

    new Gauge({
      name: 'shardwise_jobs',
      help: 'Jobs in each state (queue-wide, from Redis; counts jobs created since this accounting exists).',
      labelNames: ['state'] as const,
      registers,
      async collect() {
        const s = await read();
        if (s) for (const state of JOB_STATES) this.set({ state }, s.ops.jobs[state]);
      },
    });
    new Gauge({
      name: 'shardwise_queue_shards',
      help: 'Shards (BullMQ jobs of queue "shards") in each BullMQ state.',
      labelNames: ['state'] as const,
      registers,
      async collect() {
        const s = await read();
        if (s) for (const state of SHARD_STATES) this.set({ state }, s.shards[state] ?? 0);
      },
    });
    new Gauge({
      name: 'shardwise_queue_backlog_texts',
      help: 'Texts of queued and running jobs not yet finished, whatever state their shards are in.',
      registers,
      async collect() {
        const s = await read();
        if (s) this.set(s.ops.backlogTexts);
      },
    });
    new Gauge({
      name: 'shardwise_queue_backlog_tokens',
      help: 'Tokens of the unfinished texts: ingest estimate (UTF-8 bytes / 4 + 2, capped at the model maximum) corrected per job by the real counts of its finished shards.',
      registers,
      async collect() {
        const s = await read();
        if (s) this.set(s.ops.backlogTokens);
      },
    });
    new Gauge({
      name: 'shardwise_backlog_worker_seconds',
      help: 'Seconds one worker needs to finish the backlog: backlog tokens / tokens per second per worker. The autoscaling signal.',
      registers,
      async collect() {
        const s = await read();
        if (s) this.set(s.signal.workerSeconds);
      },
    });
    new Gauge({
      name: 'shardwise_autoscale_worker_tokens_per_second',
      help: 'Tokens per second per busy worker used by shardwise_backlog_worker_seconds: measured from worker reports, else AUTOSCALE_DEFAULT_TOKENS_PER_SECOND.',
      registers,
      async collect() {
        const s = await read();
        if (s) this.set(s.signal.tokensPerSecond);
      },
    });
    new Gauge({
      name: 'shardwise_autoscale_throughput_measured',
      help: '1 when the per-worker rate comes from worker reports, 0 when it is the configured default.',
      registers,
      async collect() {
        const s = await read();
        if (s) this.set(s.signal.measured ? 1 : 0);
      },
    });
    new Gauge({
      name: 'shardwise_store_bytes',
      help: 'Bytes this installation holds in the object store (inputs, results, files), as counted by its processes when they write and delete.',
      registers,
      async collect() {
        const s = await read();
        if (s) this.set(s.ops.storeBytes);
      },
    });
    new Gauge({
      name: 'shardwise_store_objects',
      help: 'Objects this installation holds in the object store, counted like shardwise_store_bytes.',
      registers,
      async collect() {
        const s = await read();
        if (s) this.set(s.ops.storeObjects);
      },
    });
    new Gauge({
      name: 'shardwise_autoscale_workers_reporting',
      help: 'Workers with a live throughput report in Redis.',
      registers,
      async collect() {
        const s = await read();
        if (s) this.set(s.ops.reportingWorkers);
      },
    });
  }

  /** The snapshot of this scrape: fetched once, shared by every gauge; undefined when Redis failed. */
  private read(): Promise<QueueSnapshot | undefined> {
    const now = Date.now();
    if (this.current === undefined || now - this.current.at > SNAPSHOT_REUSE_MS) {
      this.current = { at: now, snapshot: this.fetch() };
    }
    return this.current.snapshot;
  }

  private async fetch(): Promise<QueueSnapshot | undefined> {
    try {
      const [ops, shards] = await Promise.all([this.ops.snapshot(), this.queue.counts(SHARD_STATES)]);
      return { ops, shards, signal: autoscaleSignal(ops, this.env.AUTOSCALE_DEFAULT_TOKENS_PER_SECOND) };
    } catch (error) {
      this.errors.inc();
      if (Date.now() - this.lastError > 60_000) {
        this.lastError = Date.now();
        this.logger.warn(`queue metrics: could not read Redis (${(error as Error).message}); gauges keep their last values`);
      }
      return undefined;
    }
  }
}
