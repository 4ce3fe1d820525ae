import { Redis, type RedisOptions } from 'ioredis';

/**
 * BullMQ needs `maxRetriesPerRequest: null` on connections that block; reconnecting forever keeps
 * the API and workers alive through a Redis restart.
 */
export function createRedis(url: string, name: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, {
    connectionName: name,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (attempt) => Math.min(200 * attempt, 5000),
    ...extra,
  });
}

/** Refuses to run on a Redis that may evict keys: an evicted shard or job record is silent data loss. */
export async function assertNoEviction(redis: Redis): Promise<void> {
  const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
  const policy = reply[1];
  if (policy && policy !== 'noeviction') {
    throw new Error(`Redis maxmemory-policy is "${policy}"; set it to "noeviction" (redis-server --maxmemory-policy noeviction), or queued shards may be dropped.`);
  }
}
