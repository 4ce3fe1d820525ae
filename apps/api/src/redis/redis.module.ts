import { Global, Module } from '@nestjs/common';
import { BullModule } from '@nestjs/bullmq';
import type { Redis } from 'ioredis';
import { bullPrefix, JobStore, QueueName, ReplicaAck, SHARD_EVENTS_MAX_LEN, UsageLedger, WEBHOOK_QUEUE } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { CancelChannelRepository } from './cancel-channel.repository.js';
import { RedisConnectionsService } from './redis-connections.service.js';
import { RedisHealthRepository } from './redis-health.repository.js';
import { redisProviders } from './redis.providers.js';
import { NOTIFY_REDIS, QUEUE_REDIS, REDIS } from './redis.tokens.js';
import { ShardQueueRepository } from './shard-queue.repository.js';

/**
 * The producer side of the queues: no @Processor is registered in the API, so no BullMQ Worker runs here.
 * The prefix is set once; the default connection is the shard queue's, of its own so that queue
 * commands never wait behind a large staging write.
 */
const queues = BullModule.registerQueueAsync(
  { name: QueueName.Shards, useFactory: () => ({ streams: { events: { maxLen: SHARD_EVENTS_MAX_LEN } } }) },
  { name: WEBHOOK_QUEUE, inject: [NOTIFY_REDIS], useFactory: (connection: Redis) => ({ connection }) },
);

/** Every Redis connection and every repository over Redis; the rest of the API holds no connections. */
@Global()
@Module({
  imports: [
    BullModule.forRootAsync({
      inject: [API_ENV, QUEUE_REDIS],
      useFactory: (env: ApiEnv, connection: Redis) => ({ prefix: bullPrefix(env.REDIS_PREFIX), connection }),
    }),
    queues,
  ],
  providers: [
    RedisConnectionsService,
    ...redisProviders,
    // A submission writes its record on REDIS and its shards on QUEUE_REDIS: both are waited on.
    {
      provide: ReplicaAck,
      inject: [API_ENV, REDIS, QUEUE_REDIS],
      useFactory: (env: ApiEnv, redis: Redis, queue: Redis) => new ReplicaAck([redis, queue], env.REDIS_MIN_REPLICAS_ACK, env.REDIS_REPLICA_ACK_TIMEOUT_MS),
    },
    ShardQueueRepository,
    CancelChannelRepository,
    RedisHealthRepository,
  ],
  // REDIS: for the repositories of the OpenAI-compatible routes (apps/api/src/openai: file and batch records).
  exports: [
    RedisConnectionsService,
    JobStore,
    UsageLedger,
    ReplicaAck,
    QUEUE_REDIS,
    ShardQueueRepository,
    CancelChannelRepository,
    RedisHealthRepository,
    REDIS,
    NOTIFY_REDIS,
    queues,
  ],
})
export class RedisModule {}
