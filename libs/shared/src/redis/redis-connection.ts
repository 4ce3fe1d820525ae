import { Redis, type RedisOptions } from 'ioredis';
import type { RedisTarget } from './redis-target.js';

/**
 * BullMQ needs `maxRetriesPerRequest: null` on connections that block; reconnecting forever keeps
 * the API and workers alive through a Redis restart.
 */
export function createRedis(target: RedisTarget, name: string, extra: RedisOptions = {}): Redis {
  return new Redis(target.url, {
    connectionName: name,
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    retryStrategy: (attempt) => Math.min(200 * attempt, 5000),
    ...target.options,
    ...extra,
  });
}

/**
 * Options for connections that serve HTTP requests (the API's commands and queue adds): a command
 * issued or in flight while Redis is unreachable fails after 3 reconnect attempts at most 1 s apart
 * (so within about 3 s however long the outage has lasted) instead of waiting for Redis to return,
 * and the request answers 503.
 */
export const REQUEST_REDIS_OPTIONS: RedisOptions = {
  maxRetriesPerRequest: 3,
  retryStrategy: (attempt) => Math.min(100 * attempt, 1000),
};

/** True for the errors ioredis gives when Redis cannot be reached, as opposed to a command's own error. */
export function isRedisUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error.name === 'MaxRetriesPerRequestError') return true;
  return /^(Connection is closed|Command timed out|Stream isn't writeable)|ECONNREFUSED|ECONNRESET|ETIMEDOUT|EPIPE/.test(error.message);
}

/** Refuses to run on a Redis that may evict keys: an evicted shard or job record is silent data loss. */
export async function assertNoEviction(redis: Redis): Promise<void> {
  const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
  const policy = reply[1];
  if (policy && policy !== 'noeviction') {
    throw new Error(`Redis maxmemory-policy is "${policy}"; set it to "noeviction" (redis-server --maxmemory-policy noeviction), or queued shards may be dropped.`);
  }
}
