/**
 * Redis's own accounting (INFO), read over a short-lived connection: memory, traffic and commands,
 * so a run can report what a job cost Redis. Commands that Lua scripts run count in commandstats
 * under their own names (Redis 7), next to the EVALSHA that ran them.
 */
import { Redis } from 'ioredis';

export interface RedisCounters {
  /** INFO memory used_memory, bytes. */
  usedMemory: number;
  /** INFO memory used_memory_dataset, bytes (used_memory less overhead: clients, buffers, the keyspace's own tables). */
  usedMemoryDataset: number;
  /** INFO stats total_commands_processed. */
  commands: number;
  /** INFO stats total_net_input_bytes: what clients sent. */
  netInputBytes: number;
  /** INFO stats total_net_output_bytes: what Redis answered. */
  netOutputBytes: number;
  /** INFO commandstats calls per command (lower case, `evalsha`, `hset`, `bzpopmin`...). */
  calls: Record<string, number>;
}

function fields(info: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of info.split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0 && !line.startsWith('#')) out.set(line.slice(0, at), line.slice(at + 1));
  }
  return out;
}

export async function readRedisCounters(url: string): Promise<RedisCounters> {
  const redis = new Redis(url, { maxRetriesPerRequest: 3 });
  try {
    const info = fields(await redis.info('all'));
    const number = (name: string): number => Number(info.get(name) ?? NaN);
    const calls: Record<string, number> = {};
    for (const [key, value] of info) {
      if (!key.startsWith('cmdstat_')) continue;
      const match = /(?:^|,)calls=(\d+)/.exec(value);
      if (match) calls[key.slice('cmdstat_'.length)] = Number(match[1]);
    }
    return {
      usedMemory: number('used_memory'),
      usedMemoryDataset: number('used_memory_dataset'),
      commands: number('total_commands_processed'),
      netInputBytes: number('total_net_input_bytes'),
      netOutputBytes: number('total_net_output_bytes'),
      calls,
    };
  } finally {
    redis.disconnect();
  }
}

/** What happened between two readings: memory growth, commands, bytes each way, calls per command (most first). */
export function redisDelta(from: RedisCounters, to: RedisCounters) {
  const calls = Object.entries(to.calls)
    .map(([command, n]) => [command, n - (from.calls[command] ?? 0)] as [string, number])
    .filter(([, n]) => n > 0)
    .sort((a, b) => b[1] - a[1]);
  return {
    memoryGrowth: to.usedMemory - from.usedMemory,
    commands: to.commands - from.commands,
    netInputBytes: to.netInputBytes - from.netInputBytes,
    netOutputBytes: to.netOutputBytes - from.netOutputBytes,
    calls: Object.fromEntries(calls),
  };
}
export type RedisDelta = ReturnType<typeof redisDelta>;
