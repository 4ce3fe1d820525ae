import { Injectable } from '@nestjs/common';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';

/** The API's Prometheus registry. Labels are bounded sets (task, code, route template): never ids. */
@Injectable()
export class MetricsService {
  readonly registry = new Registry();

  readonly jobsSubmitted = new Counter({
    name: 'shardwise_api_jobs_submitted_total',
    help: 'Jobs accepted and enqueued.',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  readonly jobsRejected = new Counter({
    name: 'shardwise_api_jobs_rejected_total',
    help: 'Job submissions refused, by error code.',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly textsSubmitted = new Counter({
    name: 'shardwise_api_texts_submitted_total',
    help: 'Texts in accepted jobs.',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  readonly shardsEnqueued = new Counter({
    name: 'shardwise_api_shards_enqueued_total',
    help: 'Shards added to the queue by accepted jobs.',
    labelNames: ['task'] as const,
    registers: [this.registry],
  });

  readonly httpDuration = new Histogram({
    name: 'shardwise_api_http_request_duration_seconds',
    help: 'HTTP request duration, by method, route template and status.',
    labelNames: ['method', 'route', 'status'] as const,
    // Uploads of large corpora run for minutes: the buckets reach that far.
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 180, 600],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
