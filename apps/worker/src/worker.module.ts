import { Module, type DynamicModule } from '@nestjs/common';
import { WORKER_ENV, type WorkerEnv } from './config/worker-env.js';
import { HealthServerService } from './health/health-server.service.js';
import { inferencePoolProvider } from './inference/inference-pool.provider.js';
import { INFERENCE_POOL, type InferencePort } from './inference/inference.port.js';
import { ModelService } from './inference/model.service.js';
import { ThroughputReporterService } from './metrics/throughput-reporter.service.js';
import { WorkerMetricsService } from './metrics/worker-metrics.service.js';
import { RedisService } from './redis/redis.service.js';
import { CancelSignalsService } from './shards/cancel-signals.service.js';
import { ShardConsumerService } from './shards/shard-consumer.service.js';
import { ShardFailureService } from './shards/shard-failure.service.js';
import { ShardProcessorService } from './shards/shard-processor.service.js';
import { jobStoreProvider, objectStoreProvider, resultStoreProvider } from './stores/stores.providers.js';
import { JobNotifierService } from './webhooks/job-notifier.service.js';
import { WebhookConsumerService } from './webhooks/webhook-consumer.service.js';

/**
 * Lifecycle order follows the dependency graph (Nest runs hooks level by level):
 *   init:      Redis checked (RedisService) -> cancel channel subscribed, health server listening
 *   bootstrap: pool started, models preloaded (ModelService) -> consuming (ShardConsumerService)
 *   destroy:   consumer closed, in-flight shards finished -> pool closed -> Redis and health server closed
 */
@Module({})
export class WorkerModule {
  /** `overrides.pool` replaces the real InferencePool (tests run the whole app around a fake one). */
  static forRoot(env: WorkerEnv, overrides: { pool?: InferencePort } = {}): DynamicModule {
    return {
      module: WorkerModule,
      providers: [
        { provide: WORKER_ENV, useValue: env },
        RedisService,
        WorkerMetricsService,
        jobStoreProvider,
        objectStoreProvider,
        resultStoreProvider,
        overrides.pool === undefined ? inferencePoolProvider : { provide: INFERENCE_POOL, useValue: overrides.pool },
        ModelService,
        CancelSignalsService,
        JobNotifierService,
        WebhookConsumerService,
        ShardProcessorService,
        ShardFailureService,
        ShardConsumerService,
        HealthServerService,
        ThroughputReporterService,
      ],
    };
  }
}
