import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { freePort, startRedis, type RedisHandle } from './redis-server.js';

export const SENTINEL_MASTER = 'shardwise-test';

/** A primary, one or two replicas and three Sentinels on loopback: real redis-server processes, as in production. */
export interface ReplicatedRedis {
  primary: RedisHandle;
  /** The first replica (replicas[0]). */
  replica: RedisHandle;
  replicas: RedisHandle[];
  sentinelPorts: number[];
  /** REDIS_SENTINELS and REDIS_SENTINEL_MASTER for the apps. */
  env: Record<string, string>;
  /** The port of the node the Sentinels name as primary now. */
  currentPrimaryPort(): Promise<number>;
  stop(): Promise<void>;
}

/**
 * Sentinels with a quorum of 2, a primary declared down after 1 s and a failover timeout of 5 s, so
 * a test sees a promotion within a few seconds of a kill -9.
 */
export async function startReplicatedRedis(options: { replicas?: 1 | 2 } = {}): Promise<ReplicatedRedis> {
  const primary = await startRedis({ appendonly: true });
  const replicas: RedisHandle[] = [];
  for (let i = 0; i < (options.replicas ?? 1); i++) replicas.push(await startReplicaOf(primary.port));
  const dir = await mkdtemp(join(tmpdir(), 'sw-sentinel-'));
  const sentinels: ChildProcess[] = [];
  const sentinelPorts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = join(dir, `sentinel-${i}.conf`);
    await writeFile(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        `dir ${dir}`,
        `sentinel monitor ${SENTINEL_MASTER} 127.0.0.1 ${primary.port} 2`,
        `sentinel down-after-milliseconds ${SENTINEL_MASTER} 1000`,
        `sentinel failover-timeout ${SENTINEL_MASTER} 5000`,
        `sentinel parallel-syncs ${SENTINEL_MASTER} 1`,
        '',
      ].join('\n'),
    );
    sentinels.push(spawn(process.env.REDIS_SERVER_BIN ?? 'redis-server', [conf, '--sentinel'], { stdio: 'ignore' }));
    sentinelPorts.push(port);
  }
  const ask = async (): Promise<number> => {
    for (const port of sentinelPorts) {
      const sentinel = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
      sentinel.on('error', () => undefined);
      try {
        await sentinel.connect();
        const reply = (await sentinel.call('SENTINEL', 'get-master-addr-by-name', SENTINEL_MASTER)) as string[] | null;
        if (reply) return Number(reply[1]);
      } catch {
        // the next Sentinel answers
      } finally {
        sentinel.disconnect();
      }
    }
    throw new Error('no Sentinel answered');
  };
  // Every Sentinel must know the replica (and each other) before a failover can elect it.
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (await sentinelsReady(sentinelPorts, replicas.length)) break;
    if (Date.now() > deadline) throw new Error('Sentinels did not discover the replica and each other in 20 s');
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    primary,
    replica: replicas[0]!,
    replicas,
    sentinelPorts,
    env: { REDIS_SENTINELS: sentinelPorts.map((p) => `127.0.0.1:${p}`).join(','), REDIS_SENTINEL_MASTER: SENTINEL_MASTER },
    currentPrimaryPort: ask,
    async stop() {
      for (const sentinel of sentinels) {
        if (sentinel.exitCode === null && sentinel.signalCode === null) {
          const exited = new Promise((r) => sentinel.once('exit', r));
          sentinel.kill('SIGKILL');
          await exited;
        }
      }
      for (const replica of replicas) await replica.stop();
      await primary.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A replica of the primary on `primaryPort`, returned once its first sync is done. */
export async function startReplicaOf(primaryPort: number, options: { port?: number; dir?: string } = {}): Promise<RedisHandle> {
  const replica = await startRedis({ appendonly: true, ...options, replicaOf: primaryPort });
  const client = new Redis(replica.url, { maxRetriesPerRequest: null });
  try {
    const deadline = Date.now() + 10_000;
    while (!/master_link_status:up/.test(await client.info('replication'))) {
      if (Date.now() > deadline) throw new Error(`replica on ${replica.port} did not sync with ${primaryPort}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    client.disconnect();
  }
  return replica;
}

async function sentinelsReady(ports: readonly number[], replicas: number): Promise<boolean> {
  for (const port of ports) {
    const sentinel = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    sentinel.on('error', () => undefined);
    try {
      await sentinel.connect();
      const master = (await sentinel.call('SENTINEL', 'master', SENTINEL_MASTER)) as string[];
      const field = (name: string) => Number(master[master.indexOf(name) + 1]);
      if (field('num-slaves') < replicas || field('num-other-sentinels') < ports.length - 1) return false;
    } catch {
      return false;
    } finally {
      sentinel.disconnect();
    }
  }
  return true;
}
