/**
 * Runs the start and preStop scripts of deploy/k8s/components/redis-sentinel as the StatefulSet's
 * pods run them, with real redis-server and sentinel processes: three "pods" on 127.0.0.2-4 (one
 * address each, as pods have), the Redis arguments and settings read from the manifest. Only what a
 * pod gets from Kubernetes is passed differently: the peers' addresses (REDIS_HOSTS instead of the
 * pods' DNS names), free ports, a data folder per pod, and a shorter down-after so a test sees the
 * failover in seconds.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { freePort } from '../../tools/free-port.js';
import { askRedis, killProcess as kill, waitUntil } from '../support/redis-probe.js';

const COMPONENT = resolve(import.meta.dirname, '../../deploy/k8s/components/redis-sentinel');
const HOSTS = ['127.0.0.2', '127.0.0.3', '127.0.0.4'];

interface Container {
  name: string;
  args?: string[];
  env?: { name: string; value?: string }[];
}

interface Pod {
  ordinal: number;
  host: string;
  env: NodeJS.ProcessEnv;
  redis?: ChildProcess;
  sentinel?: ChildProcess;
  /** What redis-start.sh printed at its last start. */
  startLine: string;
}

describe('the redis-sentinel component scripts, run as the pods run them', () => {
  let dir: string;
  let redisPort: number;
  let sentinelPort: number;
  let redisArgs: string[];
  const pods: Pod[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-redis-ha-'));
    redisPort = await freePort();
    sentinelPort = await freePort();
    const statefulSet = parse(await readFile(join(COMPONENT, 'redis-statefulset.yaml'), 'utf8'));
    const containers = statefulSet.spec.template.spec.containers as Container[];
    const container = (name: string) => containers.find((c) => c.name === name)!;
    const envOf = (c: Container) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value ?? '']));
    // The manifest's arguments, with this test's port and data folder; --bind gives each pod its own address.
    const args = [...(container('redis').args ?? [])];
    const set = (name: string, value: string) => {
      args[args.indexOf(`--${name}`) + 1] = value;
    };
    set('port', String(redisPort));
    for (let ordinal = 0; ordinal < 3; ordinal++) {
      const data = join(dir, `data-${ordinal}`);
      await mkdir(data);
      pods.push({
        ordinal,
        host: HOSTS[ordinal]!,
        startLine: '',
        env: {
          PATH: process.env.PATH,
          ...envOf(container('redis')),
          ...envOf(container('sentinel')),
          HOSTNAME: `${statefulSet.metadata.name}-${ordinal}`,
          SENTINEL_DOWN_AFTER_MS: '1000',
          SENTINEL_FAILOVER_TIMEOUT_MS: '5000',
          REDIS_HOSTS: HOSTS.join(' '),
          REDIS_PORT: String(redisPort),
          SENTINEL_PORT: String(sentinelPort),
          REDIS_DATA_DIR: data,
          REDIS_CONF: join(dir, `redis-${ordinal}.conf`),
          REDIS_LOCAL_ADDRESS: HOSTS[ordinal],
        },
      });
    }
    redisArgs = args;
  });

  afterAll(async () => {
    for (const pod of pods) for (const child of [pod.redis, pod.sentinel]) await kill(child);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** The redis container starts (kubelet runs `sh /scripts/redis-start.sh <args>`); resolves once it answers. */
  const startRedis = async (pod: Pod): Promise<void> => {
    const data = pod.env.REDIS_DATA_DIR!;
    const args = redisArgs.map((arg, i) => (redisArgs[i - 1] === '--dir' ? data : arg));
    const child = spawn('sh', [join(COMPONENT, 'redis-start.sh'), ...args, '--bind', pod.host], { env: pod.env, stdio: ['ignore', 'pipe', 'pipe'] });
    pod.redis = child;
    pod.startLine = '';
    child.stdout.on('data', (chunk: Buffer) => {
      pod.startLine ||= /redis-start: .*/.exec(chunk.toString())?.[0] ?? '';
    });
    child.stderr.resume();
    await waitUntil(async () => (await askRedis({ host: pod.host, port: redisPort }, ['PING'])) === 'PONG', 10_000, `Redis of pod ${pod.ordinal} answers`);
  };
  const startSentinel = async (pod: Pod): Promise<void> => {
    const child = spawn('sh', [join(COMPONENT, 'sentinel-start.sh'), '--bind', pod.host], { env: pod.env, stdio: 'ignore' });
    pod.sentinel = child;
    await waitUntil(async () => (await askRedis({ host: pod.host, port: sentinelPort }, ['PING'])) === 'PONG', 10_000, `sentinel of pod ${pod.ordinal} answers`);
  };
  const replication = async (pod: Pod): Promise<Record<string, string>> => {
    const info = String((await askRedis({ host: pod.host, port: redisPort }, ['INFO', 'replication'])) ?? '');
    return Object.fromEntries(info.split('\r\n').map((line) => line.split(':') as [string, string]));
  };
  /** The master each running sentinel names. */
  const sentinelMasters = async (running: readonly Pod[]): Promise<(string | undefined)[]> =>
    Promise.all(
      running.map(
        async (pod) => ((await askRedis({ host: pod.host, port: sentinelPort }, ['SENTINEL', 'get-master-addr-by-name', pod.env.SENTINEL_MASTER!])) as string[] | null)?.[0],
      ),
    );
  /** True once every running sentinel names `master`, knows `replicas` healthy replicas and the other running sentinels. */
  const settled = async (running: readonly Pod[], master: string, replicas: number): Promise<boolean> => {
    for (const pod of running) {
      const name = pod.env.SENTINEL_MASTER!;
      const state = (await askRedis({ host: pod.host, port: sentinelPort }, ['SENTINEL', 'master', name])) as string[] | null;
      if (!state) return false;
      const field = (key: string) => state[state.indexOf(key) + 1];
      if (field('ip') !== master || Number(field('num-other-sentinels')) < running.length - 1) return false;
      const known = ((await askRedis({ host: pod.host, port: sentinelPort }, ['SENTINEL', 'replicas', name])) as string[][] | null) ?? [];
      const healthy = known.filter((r) => r[r.indexOf('flags') + 1] === 'slave' && r[r.indexOf('master-link-status') + 1] === 'ok');
      if (healthy.length < replicas) return false;
    }
    return true;
  };
  const masterPod = async (): Promise<Pod> => {
    for (const pod of pods) if ((await replication(pod)).role === 'master') return pod;
    throw new Error('no pod is master');
  };

  it('first start, pod by pod: pod 0 is the master, pods 1 and 2 its replicas, and the three sentinels agree', async () => {
    // podManagementPolicy OrderedReady: a pod starts once the one before it is ready.
    for (const pod of pods) {
      await startRedis(pod);
      await startSentinel(pod);
    }
    expect(pods.map((p) => p.startLine)).toEqual([
      'redis-start: 127.0.0.2 starts as master',
      'redis-start: 127.0.0.3 starts as replica of 127.0.0.2',
      'redis-start: 127.0.0.4 starts as replica of 127.0.0.2',
    ]);
    await waitUntil(() => settled(pods, HOSTS[0]!, 2), 40_000, 'the sentinels know the master, both replicas and each other');
    expect((await replication(pods[0]!)).role).toBe('master');
    for (const pod of pods.slice(1)) expect(await replication(pod)).toMatchObject({ role: 'slave', master_host: HOSTS[0], master_link_status: 'up' });
  });

  it('kill -9 of the master pod: a replica is master within seconds, and the pod comes back as a replica', async () => {
    const lost = await masterPod();
    const others = pods.filter((p) => p !== lost);
    // The node is gone: its Redis and its sentinel die together.
    const killedAt = Date.now();
    await kill(lost.redis);
    await kill(lost.sentinel);
    let promoted = '';
    await waitUntil(
      async () => {
        const named = await sentinelMasters(others);
        if (named.some((m) => m !== named[0] || m === lost.host || m === undefined)) return false;
        const candidate = others.find((p) => p.host === named[0]);
        if (candidate === undefined || (await replication(candidate)).role !== 'master') return false;
        promoted = candidate.host;
        return true;
      },
      20_000,
      'the remaining sentinels promote a replica',
    );
    const recoverySeconds = (Date.now() - killedAt) / 1000;
    console.log(`redis-sentinel scripts: new master ${promoted} ${recoverySeconds.toFixed(1)} s after kill -9 of ${lost.host} (down-after 1000 ms)`);
    expect(recoverySeconds).toBeLessThan(15);

    // Kubernetes starts the pod again with the same data volume: it asks a live sentinel and follows the new master.
    await startSentinel(lost);
    await startRedis(lost);
    expect(lost.startLine).toBe(`redis-start: ${lost.host} starts as replica of ${promoted}`);
    await waitUntil(async () => (await replication(lost)).master_link_status === 'up', 20_000, 'the returning pod syncs with the new master');
    expect(await replication(lost)).toMatchObject({ role: 'slave', master_host: promoted });
    await waitUntil(() => settled(pods, promoted, 2), 40_000, 'all three sentinels, the returning one too, agree on the new master and two replicas');
  });

  it("the master's preStop hands the master role over before the pod stops", async () => {
    const stopping = await masterPod();
    const startedAt = Date.now();
    const run = spawnSync('sh', [join(COMPONENT, 'redis-prestop.sh')], { env: stopping.env, encoding: 'utf8', timeout: 60_000 });
    const seconds = (Date.now() - startedAt) / 1000;
    expect(run.status, run.stderr).toBe(0);
    expect(run.stderr).not.toContain('no sentinel started a failover');
    console.log(`redis-sentinel scripts: preStop of master ${stopping.host} returned after ${seconds.toFixed(1)} s`);
    expect(await replication(stopping)).toMatchObject({ role: 'slave' });
    const named = await sentinelMasters(pods);
    expect(new Set(named).size, `sentinels name ${named.join(', ')}`).toBe(1);
    expect(named[0]).not.toBe(stopping.host);
    expect((await replication(pods.find((p) => p.host === named[0])!)).role).toBe('master');
    // A replica's preStop does nothing.
    const replica = pods.find((p) => p.host !== named[0])!;
    expect(spawnSync('sh', [join(COMPONENT, 'redis-prestop.sh')], { env: replica.env, encoding: 'utf8', timeout: 10_000 }).status).toBe(0);
    expect((await sentinelMasters(pods)).every((m) => m === named[0])).toBe(true);
  });
});
