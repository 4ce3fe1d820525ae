import type { Provider } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { assertNoEviction, JobStore, REQUEST_REDIS_OPTIONS, UsageLedger } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { RedisConnectionsService } from './redis-connections.service.js';
import { NOTIFY_REDIS, QUEUE_REDIS, REDIS } from './redis.tokens.js';

const CONNECT_TIMEOUT_MS = 30_000;
/**
 * Connects and checks the eviction policy while the app is created, so the API only starts
 * listening once Redis is usable; an unreachable Redis fails the boot after CONNECT_TIMEOUT_MS
 * instead of hanging it. Requests fail fast while Redis is down (REQUEST_REDIS_OPTIONS), so the boot
 * retries its first ping until the deadline.
 */
async function connectRedis(connections: RedisConnectionsService): Promise<Redis> {
  const redis = connections.open('shardwise-api', REQUEST_REDIS_OPTIONS);
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  try {
    for (;;) {
      try {
        await redis.ping();
        break;
      } catch (error) {
        if (Date.now() >= deadline) throw new Error(`${connections.target.description} did not answer within ${CONNECT_TIMEOUT_MS / 1000}s: ${(error as Error).message}`);
        await new Promise((r) => setTimeout(r, 500));
      }
    }
    await assertNoEviction(redis);
    return redis;
  } catch (error) {
    redis.disconnect();
    throw error;
  }
}

export const redisProviders: Provider[] = [
  { provide: REDIS, inject: [RedisConnectionsService], useFactory: connectRedis },
  {
    provide: NOTIFY_REDIS,
    inject: [RedisConnectionsService],
    useFactory: (connections: RedisConnectionsService) => connections.open('shardwise-api-notify', REQUEST_REDIS_OPTIONS),
  },
  {
    provide: QUEUE_REDIS,
    inject: [RedisConnectionsService],
    useFactory: (connections: RedisConnectionsService) => connections.open('shardwise-api-queue', REQUEST_REDIS_OPTIONS),
  },
  { provide: JobStore, inject: [REDIS, API_ENV], useFactory: (redis: Redis, env: ApiEnv) => new JobStore(redis, env.REDIS_PREFIX) },
  { provide: UsageLedger, inject: [REDIS, API_ENV], useFactory: (redis: Redis, env: ApiEnv) => new UsageLedger(redis, env.REDIS_PREFIX) },
];
