import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import type { INestApplicationContext } from '@nestjs/common';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsObjectStore, JobStore, loadEnv, QueueName, ResultStore, shardJobId, shardJobOptions, workerEnvSchema, type JobRecord, type ObjectStore, type WorkerEnv } from '#shared';
import { HealthServerService } from '../../apps/worker/src/health/health-server.service.js';
import { WorkerModule } from '../../apps/worker/src/worker.module.js';
import { FakePool } from './fake-pool.js';
import { jobRecord, storeShard } from './harness.js';
import { startRedis, type RedisHandle } from '../support/redis-server.js';

/** The whole Nest app around a FakePool: lifecycle order, BullMQ wiring, retries and the health server. */
describe('worker application', () => {
  let server: RedisHandle;
  let env: WorkerEnv;
  let pool: FakePool;
  let app: INestApplicationContext;
  let redis: Redis;
  let jobs: JobStore;
  let objects: ObjectStore;
  let results: ResultStore;
  let queue: Queue;
  let base: string;

  beforeAll(async () => {
    server = await startRedis();
    env = loadEnv(workerEnvSchema, {
      REDIS_URL: server.url,
      REDIS_PREFIX: `app${randomUUID().slice(0, 6)}`,
      RESULTS_DIR: await mkdtemp(join(tmpdir(), 'sw-worker-app-')),
      WORKER_PORT: '0',
      SHARD_LOCK_MS: '2000',
      PRELOAD_MODELS: 'embed:fake/model',
    });
    pool = new FakePool();
    app = await NestFactory.createApplicationContext(WorkerModule.forRoot(env, { pool }), { logger: false, abortOnError: false });
    base = `http://127.0.0.1:${app.get(HealthServerService).port()}`;
    redis = new Redis(server.url, { maxRetriesPerRequest: null });
    jobs = new JobStore(redis, env.REDIS_PREFIX);
    objects = new FsObjectStore(env.RESULTS_DIR);
    results = new ResultStore(objects);
    queue = new Queue(QueueName.Shards, { connection: redis, prefix: `${env.REDIS_PREFIX}:bull` });
  });

  afterAll(async () => {
    await queue?.close();
    redis?.disconnect();
    await app?.close().catch(() => undefined);
    await server?.stop();
    if (env) await rm(env.RESULTS_DIR, { recursive: true, force: true });
  });

  const waitForState = async (id: string, states: JobRecord['state'][]): Promise<JobRecord> => {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const job = await jobs.get(id);
      if (job && states.includes(job.state)) return job;
      if (Date.now() > deadline) throw new Error(`job ${id} still ${job?.state}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  it('preloads, then reports live and ready', async () => {
    expect(pool.started).toBe(true);
    expect(pool.loads).toEqual(['embed:fake/model']);
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status, await ready.text()).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it('consumes shards from the queue and completes the job', async () => {
    await jobs.create(jobRecord('q1', { shardsTotal: 2, total: 4 }));
    const items = [
      { id: 'a', text: 'x y' },
      { id: 'b', text: 'z' },
    ];
    for (const shard of [0, 1]) {
      await queue.add('shard', await storeShard(objects, 'q1', { shard, start: shard * 2 }, items), { ...shardJobOptions(3), jobId: shardJobId('q1', shard) });
    }
    const job = await waitForState('q1', ['completed', 'failed']);
    expect(job).toMatchObject({ state: 'completed', succeeded: 4, failed: 0, shardsDone: 2 });
    expect(await results.writtenShards('q1')).toEqual([0, 1]);
    const lines = [...(await results.readShard('q1', 1))!.lines()];
    expect(lines.map((l) => [l.id, l.index])).toEqual([
      ['a', 2],
      ['b', 3],
    ]);
  });

  it('retries a failing shard and fails it with SHARD_FAILED after the last attempt', async () => {
    await jobs.create(jobRecord('q2', { total: 3 }));
    pool.failWith = new Error('inference thread 0 crashed');
    try {
      await queue.add('shard', await storeShard(objects, 'q2'), { attempts: 2, backoff: { type: 'fixed', delay: 20 }, jobId: shardJobId('q2', 0) });
      const job = await waitForState('q2', ['completed', 'failed']);
      expect(job).toMatchObject({ state: 'failed', failed: 3, shardsFailed: 1, error: 'inference thread 0 crashed' });
    } finally {
      pool.failWith = undefined;
    }
    expect(pool.encodes).toBeGreaterThanOrEqual(2);
    const first = JSON.parse((await results.readShard('q2', 0))!.renderNdjson('results').toString('utf8').split('\n')[0]!);
    expect(first).toEqual({ id: 'a', index: 0, error: { code: 'SHARD_FAILED', message: 'inference thread 0 crashed' } });
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('shardwise_worker_shards_total{task="embed",model="fake/model",outcome="retrying"} 1');
    expect(metrics).toContain('shardwise_worker_shards_total{task="embed",model="fake/model",outcome="failed"} 1');
    expect(metrics).toContain('process_cpu_user_seconds_total');
  });

  it('drains on close: the shard in flight finishes, then the pool closes', async () => {
    await jobs.create(jobRecord('q3'));
    let release: () => void = () => undefined;
    pool.gate = new Promise<void>((r) => (release = r));
    const blocked = new Promise<void>((r) => (pool.onBlocked = r));
    await queue.add('shard', await storeShard(objects, 'q3'), { ...shardJobOptions(3), jobId: shardJobId('q3', 0) });
    await blocked;
    const closing = app.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(pool.closed).toBe(false);
    release();
    await closing;
    expect(pool.closed).toBe(true);
    expect(await jobs.get('q3')).toMatchObject({ state: 'completed', shardsDone: 1 });
    await expect(fetch(`${base}/healthz`)).rejects.toThrow();
  });
});
