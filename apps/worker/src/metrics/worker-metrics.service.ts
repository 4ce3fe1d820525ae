import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Optional, type OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EncodeStats } from '#models';
import type { ShardUsage } from '#shared';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { ActivityWindow, type ActivitySnapshot } from './activity-window.js';

export type ShardMetricOutcome = 'completed' | 'recovered' | 'cancelled' | 'dropped' | 'already-done' | 'retrying' | 'failed';

/** Label used for any model this process has not loaded, so a bad payload cannot mint label values. */
const OTHER_MODEL = 'other';
/** Tenant label of the usage counters past USAGE_METRICS_MAX_TENANTS, and of shards queued without a tenant. */
export const OTHER_TENANT = 'other';
const DEFAULT_MAX_USAGE_TENANTS = 50;
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,47}$/;

/** Stages of a shard timed by shardwise_worker_stage_seconds. */
export type WorkerStage = 'queue' | 'read' | 'tokenize' | 'inference' | 'write';
/** Kinds of shardwise_worker_errors_total; all start at 0 so rate() has a series before the first error. */
export const WORKER_ERROR_KINDS = ['shard_retry', 'shard_failed', 'shard_stalled', 'model_load', 'consumer', 'throughput_report'] as const;
export type WorkerErrorKind = (typeof WORKER_ERROR_KINDS)[number];
/** The recent window of throughput and busy ratio (published to Redis for the autoscaling signal). */
export const ACTIVITY_WINDOW_MS = 5 * 60_000;

/**
 * Prometheus metrics of one worker process. Model labels are limited to models this process has
 * actually loaded and error-code labels to well-formed codes; job ids never become labels.
 */
@Injectable()
export class WorkerMetricsService implements OnModuleInit {
  readonly registry = new Registry();
  private readonly served = new Set<string>();
  /** Tenants with a label of their own on the usage counters, first come first served, at most maxUsageTenants. */
  private readonly usageTenants = new Set<string>();
  private readonly maxUsageTenants: number;

  private readonly shards = new Counter({
    name: 'shardwise_worker_shards_total',
    help: 'Shards handled, by how they ended',
    labelNames: ['task', 'model', 'outcome'] as const,
    registers: [this.registry],
  });
  private readonly texts = new Counter({
    name: 'shardwise_worker_texts_total',
    help: 'Texts sent through inference',
    labelNames: ['task', 'model'] as const,
    registers: [this.registry],
  });
  private readonly textsDeduplicated = new Counter({
    name: 'shardwise_worker_texts_deduplicated_total',
    help: 'Texts whose result was copied from an identical text of the same job instead of computed (dedup)',
    labelNames: ['task', 'model'] as const,
    registers: [this.registry],
  });
  private readonly tokens = new Counter({
    name: 'shardwise_worker_tokens_total',
    help: 'Tokens of the texts sent through inference (after truncation)',
    labelNames: ['task', 'model'] as const,
    registers: [this.registry],
  });
  private readonly usageTexts = new Counter({
    name: 'shardwise_usage_texts_total',
    help: 'Texts billed (those that got a result), by tenant and model; counted once per shard whatever its retries. Tenants past USAGE_METRICS_MAX_TENANTS count as tenant="other"',
    labelNames: ['tenant', 'model'] as const,
    registers: [this.registry],
  });
  private readonly usageTokens = new Counter({
    name: 'shardwise_usage_tokens_total',
    help: 'Tokens (after truncation) of the texts billed, by tenant and model; counted once per shard whatever its retries. Tenants past USAGE_METRICS_MAX_TENANTS count as tenant="other"',
    labelNames: ['tenant', 'model'] as const,
    registers: [this.registry],
  });
  private readonly shardDuration = new Histogram({
    name: 'shardwise_worker_shard_duration_seconds',
    help: 'Time to process one shard that ran inference, from pickup to counted',
    labelNames: ['task', 'model'] as const,
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300],
    registers: [this.registry],
  });
  private readonly itemsFailed = new Counter({
    name: 'shardwise_worker_items_failed_total',
    help: 'Items written as errors, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  private readonly modelLoad = new Gauge({
    name: 'shardwise_worker_model_load_seconds',
    help: 'Seconds the load (in every inference thread, warm-up included) of each model took in this process',
    labelNames: ['task', 'model'] as const,
    registers: [this.registry],
  });

  private readonly activity = new ActivityWindow(ACTIVITY_WINDOW_MS, performance.now());
  private readonly errors = new Counter({
    name: 'shardwise_worker_errors_total',
    help: 'Errors by kind: shard_retry (an attempt failed, will retry), shard_failed (out of attempts), shard_stalled (a lock expired: a worker died), model_load, consumer (BullMQ worker errors), throughput_report (Redis publish failed)',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });
  private readonly stages = new Histogram({
    name: 'shardwise_worker_stage_seconds',
    help: 'Seconds per shard in each stage: queue (enqueued to first pick-up), read (its input range from the object store, parsed), tokenize and inference (thread-seconds summed over inference threads), write (result files and counting)',
    labelNames: ['stage'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
    registers: [this.registry],
  });
  private readonly batchSize = new Histogram({
    name: 'shardwise_worker_batch_size',
    help: 'Texts per inference batch',
    labelNames: ['task'] as const,
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256],
    registers: [this.registry],
  });
  private readonly batchTokens = new Histogram({
    name: 'shardwise_worker_batch_tokens',
    help: 'Padded tokens per inference batch (texts x longest text: what the model computes; bounded by MAX_BATCH_TOKENS)',
    labelNames: ['task'] as const,
    buckets: [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384],
    registers: [this.registry],
  });
  private readonly batchPadding = new Histogram({
    name: 'shardwise_worker_batch_padding_ratio',
    help: 'Share of padding in each inference batch: 1 - tokens / padded tokens',
    labelNames: ['task'] as const,
    buckets: [0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1],
    registers: [this.registry],
  });
  private readonly inferenceTokens = new Counter({
    name: 'shardwise_worker_inference_tokens_total',
    help: 'Token positions the model computed, by kind: real (text tokens) or padding',
    labelNames: ['task', 'model', 'kind'] as const,
    registers: [this.registry],
  });
  private readonly batchLimit = new Gauge({
    name: 'shardwise_worker_batch_limit',
    help: 'Batch limits of this worker: limit="tokens" (MAX_BATCH_TOKENS, padded) and limit="texts" (MAX_BATCH_SIZE)',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  constructor(@Optional() @Inject(WORKER_ENV) env?: Pick<WorkerEnv, 'USAGE_METRICS_MAX_TENANTS'>) {
    this.maxUsageTenants = env?.USAGE_METRICS_MAX_TENANTS ?? DEFAULT_MAX_USAGE_TENANTS;
    for (const kind of WORKER_ERROR_KINDS) this.errors.inc({ kind }, 0);
    const activity = this.activity;
    new Counter({
      name: 'shardwise_worker_busy_seconds_total',
      help: 'Seconds this worker had at least one shard in flight; rate() is its busy ratio',
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(activity.totalBusySeconds(performance.now()));
      },
    });
    new Gauge({
      name: 'shardwise_worker_busy_ratio',
      help: `Share of the last ${ACTIVITY_WINDOW_MS / 60_000} minutes this worker had at least one shard in flight`,
      registers: [this.registry],
      collect() {
        const s = activity.snapshot(performance.now());
        this.set(s.windowSeconds > 0 ? s.busySeconds / s.windowSeconds : 0);
      },
    });
    new Gauge({
      name: 'shardwise_worker_throughput_tokens_per_second',
      help: `Tokens finished per busy second over the last ${ACTIVITY_WINDOW_MS / 60_000} minutes (the rate this worker reports for autoscaling; 0 before any work)`,
      registers: [this.registry],
      collect() {
        const s = activity.snapshot(performance.now());
        this.set(s.busySeconds > 0 ? s.tokens / s.busySeconds : 0);
      },
    });
    new Gauge({
      name: 'shardwise_worker_shards_in_flight',
      help: 'Shards this worker is processing now',
      registers: [this.registry],
      collect() {
        this.set(activity.shardsInFlight);
      },
    });
  }

  onModuleInit(): void {
    // Started here, not in the constructor: it installs an event-loop monitor and timers.
    collectDefaultMetrics({ register: this.registry });
  }

  /** Called once a model loaded; from then on its id is a label value. */
  /** Whether modelLoaded() was called for this model: each model's load is reported once. */
  hasLoaded(modelId: string): boolean {
    return this.served.has(modelId);
  }

  modelLoaded(task: string, modelId: string, seconds: number): void {
    this.served.add(modelId);
    this.modelLoad.set({ task, model: modelId }, seconds);
  }

  shard(task: string, modelId: string, outcome: ShardMetricOutcome): void {
    this.shards.inc({ task, model: this.model(modelId), outcome });
    if (outcome === 'retrying') this.errors.inc({ kind: 'shard_retry' });
    else if (outcome === 'failed') this.errors.inc({ kind: 'shard_failed' });
  }

  error(kind: WorkerErrorKind): void {
    this.errors.inc({ kind });
  }

  /** A shard starts (pair with shardFinished in a finally): busy time for the busy ratio and throughput. */
  shardStarted(): void {
    this.activity.start(performance.now());
  }

  shardFinished(): void {
    this.activity.end(performance.now());
  }

  /** Recent tokens and busy seconds, as published to Redis for the autoscaling signal. */
  activitySnapshot(): ActivitySnapshot {
    return this.activity.snapshot(performance.now());
  }

  stage(stage: WorkerStage, seconds: number): void {
    if (Number.isFinite(seconds) && seconds >= 0) this.stages.observe({ stage }, seconds);
  }

  /** The engine's per-shard stats: tokenize and inference stages, batch histograms, real vs padding tokens. */
  encodeStats(task: string, modelId: string, stats: EncodeStats): void {
    this.stage('tokenize', stats.tokenizeSeconds);
    this.stage('inference', stats.inferenceSeconds);
    const model = this.model(modelId);
    this.inferenceTokens.inc({ task, model, kind: 'real' }, stats.tokens);
    this.inferenceTokens.inc({ task, model, kind: 'padding' }, Math.max(0, stats.paddedTokens - stats.tokens));
    for (const batch of stats.perBatch ?? []) {
      this.batchSize.observe({ task }, batch.texts);
      this.batchTokens.observe({ task }, batch.paddedTokens);
      this.batchPadding.observe({ task }, batch.paddedTokens > 0 ? 1 - batch.tokens / batch.paddedTokens : 0);
    }
  }

  setBatchLimits(maxBatchTokens: number, maxBatchSize: number): void {
    this.batchLimit.set({ limit: 'tokens' }, maxBatchTokens);
    this.batchLimit.set({ limit: 'texts' }, maxBatchSize);
  }

  inference(task: string, modelId: string, texts: number, tokens: number, seconds: number): void {
    const labels = { task, model: this.model(modelId) };
    this.texts.inc(labels, texts);
    this.tokens.inc(labels, tokens);
    this.shardDuration.observe(labels, seconds);
    this.activity.credit(performance.now(), tokens);
  }

  deduplicated(task: string, modelId: string, texts: number): void {
    if (texts > 0) this.textsDeduplicated.inc({ task, model: this.model(modelId) }, texts);
  }

  /** A shard's usage, once it was counted (JobStore.completeShard said so): what GET /v1/usage also holds. */
  usage(tenant: string | undefined, modelId: string, usage: ShardUsage): void {
    const labels = { tenant: this.usageTenant(tenant), model: this.model(modelId) };
    this.usageTexts.inc(labels, usage.texts);
    this.usageTokens.inc(labels, usage.tokens);
  }

  itemsFailedByCode(counts: ReadonlyMap<string, number>): void {
    for (const [code, count] of counts) this.itemsFailed.inc({ code: ERROR_CODE.test(code) ? code : 'OTHER' }, count);
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private model(modelId: string): string {
    return this.served.has(modelId) ? modelId : OTHER_MODEL;
  }

  /** Series grow with tenants x models: past the limit, new tenants share one label. */
  private usageTenant(tenant: string | undefined): string {
    if (tenant === undefined || tenant === '') return OTHER_TENANT;
    if (this.usageTenants.has(tenant)) return tenant;
    if (this.usageTenants.size >= this.maxUsageTenants) return OTHER_TENANT;
    this.usageTenants.add(tenant);
    return tenant;
  }
}
