import { Injectable, type OnModuleInit } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export type ShardMetricOutcome = 'completed' | 'recovered' | 'cancelled' | 'dropped' | 'already-done' | 'retrying' | 'failed';

/** Label used for any model this process has not loaded, so a bad payload cannot mint label values. */
const OTHER_MODEL = 'other';
const ERROR_CODE = /^[A-Z][A-Z0-9_]{0,47}$/;

/**
 * Prometheus metrics of one worker process. Model labels are limited to models this process has
 * actually loaded and error-code labels to well-formed codes; job ids never become labels.
 */
@Injectable()
export class WorkerMetricsService implements OnModuleInit {
  readonly registry = new Registry();
  private readonly served = new Set<string>();

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
  private readonly tokens = new Counter({
    name: 'shardwise_worker_tokens_total',
    help: 'Tokens of the texts sent through inference (after truncation)',
    labelNames: ['task', 'model'] as const,
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

  onModuleInit(): void {
    // Started here, not in the constructor: it installs an event-loop monitor and timers.
    collectDefaultMetrics({ register: this.registry });
  }

  /** Called once a model loaded; from then on its id is a label value. */
  modelLoaded(task: string, modelId: string, seconds: number): void {
    this.served.add(modelId);
    this.modelLoad.set({ task, model: modelId }, seconds);
  }

  shard(task: string, modelId: string, outcome: ShardMetricOutcome): void {
    this.shards.inc({ task, model: this.model(modelId), outcome });
  }

  inference(task: string, modelId: string, texts: number, tokens: number, seconds: number): void {
    const labels = { task, model: this.model(modelId) };
    this.texts.inc(labels, texts);
    this.tokens.inc(labels, tokens);
    this.shardDuration.observe(labels, seconds);
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
}
