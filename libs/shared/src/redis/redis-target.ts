import type { ConnectionOptions } from 'node:tls';
import type { RedisOptions } from 'ioredis';
import { readRedisCa } from './redis-tls.js';

/** One Sentinel's address, from REDIS_SENTINELS. */
export interface SentinelAddress {
  host: string;
  port: number;
}

/** The environment that says where Redis is (a subset of CommonEnv, so tests and tools can build one). */
export interface RedisEnv {
  REDIS_URL: string;
  REDIS_PASSWORD?: string | undefined;
  REDIS_SENTINELS?: readonly SentinelAddress[] | undefined;
  REDIS_SENTINEL_MASTER?: string | undefined;
  REDIS_SENTINEL_PASSWORD?: string | undefined;
  REDIS_SENTINEL_TLS?: boolean | undefined;
  REDIS_TLS_CA_FILE?: string | undefined;
}

/**
 * Where every connection of a process goes: REDIS_URL alone (one Redis, as before), or the primary
 * that the Sentinels of REDIS_SENTINELS name for REDIS_SENTINEL_MASTER; REDIS_URL then gives only
 * the password, user, database and TLS (rediss://) of the Redis nodes, never their address.
 */
export interface RedisTarget {
  url: string;
  options: RedisOptions;
  /** For messages: the address without passwords, and the variable that sets it. */
  description: string;
}

export function redisTarget(env: RedisEnv): RedisTarget {
  const password: RedisOptions = env.REDIS_PASSWORD === undefined ? {} : { password: env.REDIS_PASSWORD };
  // A private CA (REDIS_TLS_CA_FILE) is trusted on every TLS connection, to the nodes and to the Sentinels.
  const tls: ConnectionOptions = env.REDIS_TLS_CA_FILE === undefined ? {} : { ca: readRedisCa(env.REDIS_TLS_CA_FILE) };
  const nodesTls: RedisOptions = env.REDIS_URL.startsWith('rediss://') && tls.ca !== undefined ? { tls } : {};
  const sentinels = env.REDIS_SENTINELS;
  if (sentinels === undefined || sentinels.length === 0) {
    return { url: env.REDIS_URL, options: { ...password, ...nodesTls }, description: `Redis at ${redactUrl(env.REDIS_URL)} (REDIS_URL)` };
  }
  const name = env.REDIS_SENTINEL_MASTER ?? '';
  const addresses = sentinels.map((s) => `${s.host}:${s.port}`).join(',');
  return {
    url: env.REDIS_URL,
    options: {
      ...password,
      sentinels: sentinels.map((s) => ({ host: s.host, port: s.port })),
      name,
      // Only the primary takes writes; a replica found after a failover is left for the next address.
      role: 'master',
      ...(env.REDIS_SENTINEL_PASSWORD === undefined ? {} : { sentinelPassword: env.REDIS_SENTINEL_PASSWORD }),
      ...nodesTls,
      ...(env.REDIS_SENTINEL_TLS ? { sentinelTLS: tls } : {}),
      // rediss:// in REDIS_URL: the nodes the Sentinels name speak TLS too.
      enableTLSForSentinelMode: env.REDIS_URL.startsWith('rediss://'),
      // Reconnect as soon as a Sentinel announces a new primary (+switch-master), not at the next error.
      failoverDetector: true,
    },
    description: `Redis primary "${name}" from Sentinels ${addresses} (REDIS_SENTINELS, REDIS_SENTINEL_MASTER)`,
  };
}

/** `host:port` entries of REDIS_SENTINELS, or the problem with the list (for the env schema). */
export function parseSentinels(list: string): SentinelAddress[] | string {
  const addresses: SentinelAddress[] = [];
  for (const entry of list.split(',').map((e) => e.trim())) {
    const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(entry);
    const port = match ? Number(match[2]) : 0;
    if (!match || port < 1 || port > 65535) return `"${entry}" is not host:port (a comma list of Sentinel addresses, e.g. sentinel-0:26379,sentinel-1:26379)`;
    addresses.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
  }
  return addresses;
}

/** The URL without its password, for messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparsable URL)';
  }
}
