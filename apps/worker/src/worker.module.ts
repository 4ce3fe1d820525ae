import { Module, type DynamicModule } from '@nestjs/common';
import { BullModule, Processor } from '@nestjs/bullmq';
import { bullPrefix, QueueName, WEBHOOK_QUEUE } from '#shared';
import { ConfigModule } from './config/config.module.js';
import { WORKER_ENV, type WorkerEnv } from './config/worker-env.js';
import { HealthServerService } from './health/health-server.service.js';
import { inferencePoolProvider } from './inference/inference-pool.provider.js';
import { INFERENCE_POOL, type InferencePort } from './inference/inference.port.js';
import { ModelService } from './inference/model.service.js';
import { ThroughputReporterService } from './metrics/throughput-reporter.service.js';
import { WorkerMetricsService } from './metrics/worker-metrics.service.js';
import { queueErrorLogsProvider } from './redis/queue-error-logs.provider.js';
import { RedisModule } from './redis/redis.module.js';
import { RedisService } from './redis/redis.service.js';
import { CancelSignalsService } from './shards/cancel-signals.service.js';
import { ShardConsumerService, shardWorkerOptions } from './shards/shard-consumer.service.js';
import { ShardFailureService } from './shards/shard-failure.service.js';
import { ShardProcessorService } from './shards/shard-processor.service.js';
import { jobStoreProvider, objectStoreProvider, replicaAckProvider, resultStoreProvider } from './stores/stores.providers.js';
import { JobNotifierService } from './webhooks/job-notifier.service.js';
import { WebhookConsumerService, webhookWorkerOptions } from './webhooks/webhook-consumer.service.js';

/**
 * Lifecycle order follows the dependency graph (Nest runs hooks level by level):
 *   init:      Redis checked (RedisService) -> cancel channel subscribed, health server listening
 *   bootstrap: pool started, models preloaded (ModelService) -> consuming (ShardConsumerService)
 *   destroy:   consumer closed, in-flight shards finished or given back -> pool closed -> Redis and health server closed
 */
@Module({})
export class WorkerModule {
  /** `overrides.pool` replaces the real InferencePool (tests run the whole app around a fake one). */
  static forRoot(env: WorkerEnv, overrides: { pool?: InferencePort } = {}): DynamicModule {
    // Worker options that depend on the environment: a decorator runs at import, before it is read.
    Processor(QueueName.Shards, shardWorkerOptions(env))(ShardConsumerService);
    Processor(WEBHOOK_QUEUE, webhookWorkerOptions(env))(WebhookConsumerService);
    return {
      module: WorkerModule,
      imports: [
        ConfigModule.forRoot(env),
        RedisModule,
        // The prefix is set once here; the default connection is the shard queue's, the webhook queue has its own.
        // Each queue's Worker blocks on a duplicate of its connection; RedisService closes them all.
        BullModule.forRootAsync({
          inject: [WORKER_ENV, RedisService],
          useFactory: (config: WorkerEnv, redis: RedisService) => ({ prefix: bullPrefix(config.REDIS_PREFIX), connection: redis.open('shardwise-worker-bullmq') }),
        }),
        BullModule.registerQueue({ name: QueueName.Shards }),
        BullModule.registerQueueAsync({
          name: WEBHOOK_QUEUE,
          inject: [RedisService],
          useFactory: (redis: RedisService) => ({ connection: redis.open('shardwise-worker-webhooks') }),
        }),
      ],
      providers: [
        queueErrorLogsProvider,
        WorkerMetricsService,
        jobStoreProvider,
        replicaAckProvider,
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
