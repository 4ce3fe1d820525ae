import type { Redis, RedisOptions } from 'ioredis';
import { LogThrottle } from './log-throttle.js';
import { createRedis } from './redis-connection.js';
import type { RedisTarget } from './redis-target.js';
import { redisErrorMessage } from './redis-tls.js';

/** What a connection error is written to; errors of one connection are throttled (LogThrottle). */
export type ConnectionErrorLog = (line: string) => void;

/**
 * The named Redis connections of one process (command, subscriber, BullMQ): each is opened here
 * with its role's options and a throttled error log, and all are closed together at shutdown.
 */
export class RedisConnections {
  private readonly opened = new Set<Redis>();

  constructor(
    /** Where the connections go: the one Redis of REDIS_URL or the primary its Sentinels name. */
    readonly target: RedisTarget,
    private readonly log: ConnectionErrorLog,
  ) {}

  /** `name` shows in CLIENT LIST; `options` override createRedis's (REQUEST_REDIS_OPTIONS for connections that serve requests). */
  open(name: string, options: RedisOptions = {}): Redis {
    const connection = createRedis(this.target, name, options);
    logConnectionErrors(connection, name, this.log);
    this.opened.add(connection);
    return connection;
  }

  /** Closes every connection opened here, in parallel; none waits longer than `timeoutMs` on a Redis that is down. */
  async closeAll(timeoutMs = 2000): Promise<void> {
    const all = [...this.opened];
    this.opened.clear();
    await Promise.all(all.map((connection) => closeRedis(connection, timeoutMs)));
  }
}

interface ErrorSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * Without a listener ioredis and BullMQ print every reconnect attempt as an unhandled error; with
 * one that writes them all, an outage floods the log: one line, then at most one every 30 s.
 */
export function logConnectionErrors(source: ErrorSource, name: string, log: ConnectionErrorLog): void {
  const throttle = new LogThrottle();
  source.on('error', (error: Error) => throttle.log(`${name}: ${redisErrorMessage(error)}`, log));
}

/**
 * QUIT lets pending replies arrive; it would wait forever for a Redis that is down, so it is bounded.
 * A connection that is not ready (never opened, reconnecting, disconnected by BullMQ) has none to wait for.
 */
export async function closeRedis(connection: Redis, timeoutMs = 2000): Promise<void> {
  if (connection.status !== 'ready') {
    connection.disconnect();
    return;
  }
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('QUIT timed out')), timeoutMs);
  });
  try {
    await Promise.race([connection.quit(), timeout]);
  } catch {
    connection.disconnect();
  } finally {
    clearTimeout(timer);
  }
}
