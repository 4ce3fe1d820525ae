import { Global, Module } from '@nestjs/common';
import { JobStore } from '../../../../libs/shared/src/index.js';
import { CancelChannelRepository } from './cancel-channel.repository.js';
import { RedisHealthRepository } from './redis-health.repository.js';
import { redisProviders } from './redis.providers.js';
import { REDIS } from './redis.tokens.js';
import { ShardQueueRepository } from './shard-queue.repository.js';

/** Every repository over Redis; the rest of the API holds no connections. */
@Global()
@Module({
  providers: [...redisProviders, ShardQueueRepository, CancelChannelRepository, RedisHealthRepository],
  // REDIS: for the repositories of the OpenAI-compatible routes (apps/api/src/openai: file and batch records).
  exports: [JobStore, ShardQueueRepository, CancelChannelRepository, RedisHealthRepository, REDIS],
})
export class RedisModule {}
