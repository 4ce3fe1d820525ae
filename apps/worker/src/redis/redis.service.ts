import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { assertNoEviction, RedisConnections, redisTarget } from '#shared';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';

/** How long boot waits for Redis before giving up; the orchestrator restarts us with backoff. */
const CONNECT_TIMEOUT_MS = 15_000;

/**
 * Every Redis connection of the worker: `client` for commands (job records, health checks),
 * `subscriber` for the cancel channel, which a subscribed connection cannot share, and one per
 * BullMQ queue (`open`, used by the queue registrations in WorkerModule). All close last, at shutdown.
 */
@Injectable()
export class RedisService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(RedisService.name);
  private readonly connections: RedisConnections;
  readonly client: Redis;
  readonly subscriber: Redis;

  constructor(@Inject(WORKER_ENV) env: WorkerEnv) {
    this.connections = new RedisConnections(redisTarget(env), (line) => this.logger.warn(line));
    // lazyConnect: constructing a connection must not open a socket; onModuleInit does.
    this.client = this.connections.open('shardwise-worker', { lazyConnect: true });
    this.subscriber = this.connections.open('shardwise-worker-cancel', { lazyConnect: true });
  }

  /** A connection of its own for a BullMQ queue and its Worker (which blocks on a duplicate of it). */
  open(name: string): Redis {
    return this.connections.open(name);
  }

  async onModuleInit(): Promise<void> {
    const where = this.connections.target.description;
    await withTimeout(this.client.ping(), CONNECT_TIMEOUT_MS, `${where} did not answer within ${CONNECT_TIMEOUT_MS / 1000}s`);
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
    await this.connections.closeAll();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
