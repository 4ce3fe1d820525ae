import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { assertNoEviction, createRedis, LogThrottle } from '../../../../libs/shared/src/index.js';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';

/** How long boot waits for Redis before giving up; the orchestrator restarts us with backoff. */
const CONNECT_TIMEOUT_MS = 15_000;

/**
 * Owns the worker's own Redis connections: `client` for commands (job records, health checks) and
 * `subscriber` for the cancel channel, which a subscribed connection cannot share.
 * BullMQ gets its own connections (see ShardConsumerService).
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  // lazyConnect: constructing a connection must not open a socket; onModuleInit does.
  readonly client: Redis;
  readonly subscriber: Redis;

  constructor(@Inject(WORKER_ENV) private readonly env: WorkerEnv) {
    this.client = createRedis(env.REDIS_URL, 'shardwise-worker', { lazyConnect: true });
    this.subscriber = createRedis(env.REDIS_URL, 'shardwise-worker-cancel', { lazyConnect: true });
    for (const connection of [this.client, this.subscriber]) {
      // Without a listener ioredis prints every reconnect attempt as an unhandled error; with one
      // per attempt, an outage floods the log: one line, then at most one every 30 s.
      const throttle = new LogThrottle();
      connection.on('error', (error: Error) => throttle.log(`Redis: ${error.message}`, (line) => this.logger.warn(line)));
    }
  }

  async onModuleInit(): Promise<void> {
    const where = redactUrl(this.env.REDIS_URL);
    await withTimeout(this.client.ping(), CONNECT_TIMEOUT_MS, `Redis at ${where} (REDIS_URL) did not answer within ${CONNECT_TIMEOUT_MS / 1000}s`);
    await assertNoEviction(this.client);
  }

  /** For /readyz: true when Redis answers within `timeoutMs`. */
  async isReachable(timeoutMs = 1000): Promise<boolean> {
    // While disconnected a PING would only wait in the offline queue, one more per probe.
    if (this.client.status !== 'ready') return false;
    try {
      await withTimeout(this.client.ping(), timeoutMs, 'ping timed out');
      return true;
    } catch {
      return false;
    }
  }

  async onApplicationShutdown(): Promise<void> {
    // Last hook: in-flight shards have finished and counted by now.
    await Promise.all([closeRedis(this.client), closeRedis(this.subscriber)]);
  }
}

/** QUIT lets pending replies arrive; it would wait forever for a Redis that is down, so it is bounded. */
export async function closeRedis(connection: Redis, timeoutMs = 2000): Promise<void> {
  if (connection.status === 'wait' || connection.status === 'end') {
    connection.disconnect();
    return;
  }
  try {
    await withTimeout(connection.quit(), timeoutMs, 'QUIT timed out');
  } catch {
    connection.disconnect();
  }
}

export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
