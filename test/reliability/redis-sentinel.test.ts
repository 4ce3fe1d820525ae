import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { API_ENTRY, startApp, WORKER_ENTRY, type AppProcess } from '../support/app-process.js';
import { startReplicatedRedis, type ReplicatedRedis } from '../support/redis-replicated.js';
import { finished, freePort, MODEL_DIR, postJob, request, resultsOf, scanKeys, sleep, TINY_EMBED, waitFor } from '../support/stack.js';

/**
 * One primary, one replica and three Sentinels (test/support/redis-replicated.ts): the API and a
 * worker find the primary through the Sentinels alone (REDIS_URL points nowhere), and with
 * REDIS_MIN_REPLICAS_ACK=1 a submission is answered 202 only once the replica holds it.
 */
describe('Redis behind Sentinels, with replica acknowledgement', () => {
  let ha: ReplicatedRedis;
  let resultsDir: string;
  let api: AppProcess;
  let worker: AppProcess;
  let primary: Redis;
  const apps: AppProcess[] = [];

  const common = (): Record<string, string> => ({
    // Only the Sentinels say where Redis is: this address has nothing listening.
    REDIS_URL: 'redis://127.0.0.1:1',
    ...ha.env,
    MODEL_DIR,
    RESULTS_DIR: resultsDir,
    REDIS_REPLICA_ACK_TIMEOUT_MS: '500',
  });
  const startApi = async (env: Record<string, string>): Promise<AppProcess> => {
    const port = await freePort();
    const app = await startApp(API_ENTRY, { ...common(), PORT: String(port), ...env }, port, 60_000);
    apps.push(app);
    return app;
  };

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    ha = await startReplicatedRedis();
    resultsDir = await mkdtemp(join(tmpdir(), 'sw-results-'));
    primary = new Redis(ha.primary.url, { maxRetriesPerRequest: null });
    primary.on('error', () => undefined);
    api = await startApi({ REDIS_MIN_REPLICAS_ACK: '1' });
    const workerPort = await freePort();
    worker = await startApp(
      WORKER_ENTRY,
      { ...common(), WORKER_PORT: String(workerPort), REDIS_MIN_REPLICAS_ACK: '1', INFERENCE_ENGINE: 'noop-test-only', SHARDWISE_ALLOW_NOOP_ENGINE: '1', WORKER_CONCURRENCY: '4' },
      workerPort,
    );
    apps.push(worker);
  });

  afterAll(async () => {
    for (const app of apps) await app.stop('SIGKILL').catch(() => undefined);
    primary?.disconnect();
    await ha?.stop();
    if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
  });

  it('boots the API and a worker through the Sentinels and completes a job', async () => {
    const clients = await primary.client('LIST');
    expect(clients).toContain('name=shardwise-api ');
    expect(clients).toContain('name=shardwise-worker ');
    const submitted = await postJob(api.baseUrl, { task: 'embed', model: TINY_EMBED, inputs: ['a', 'b', 'c'] });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const job = await waitFor(api.baseUrl, submitted.body.id as string, finished, { timeoutMs: 30_000 });
    expect(job.state).toBe('completed');
    expect((await resultsOf(api.baseUrl, job.id)).map((line) => line.index)).toEqual([0, 1, 2]);
  });

  it('answers 503 REDIS_NOT_REPLICATED with Retry-After and keeps nothing while the replica does not confirm; 202 once it does', async () => {
    const jobsBefore = await scanKeys(primary, 'sw:job:*');
    const queue = new Queue('shards', { connection: primary.duplicate(), prefix: 'sw:bull' });
    try {
      const queuedBefore = await queue.getJobCountByTypes('wait', 'prioritized', 'active', 'delayed');
      ha.replica.process.kill('SIGSTOP');
      let refused: Awaited<ReturnType<typeof postJob>>;
      try {
        refused = await postJob(api.baseUrl, { task: 'embed', model: TINY_EMBED, inputs: ['x', 'y'] });
      } finally {
        ha.replica.process.kill('SIGCONT');
      }
      expect(refused.status, JSON.stringify(refused.body)).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('5');
      expect(refused.body).toMatchObject({ error: { code: 'REDIS_NOT_REPLICATED', message: expect.stringMatching(/0 of 1 Redis replicas.*nothing of it was kept/) } });
      expect(await scanKeys(primary, 'sw:job:*')).toEqual(jobsBefore);
      // A shard the worker took before the rollback finds no job and is dropped: the queue drains back.
      const deadline = Date.now() + 10_000;
      while ((await queue.getJobCountByTypes('wait', 'prioritized', 'active', 'delayed')) !== queuedBefore && Date.now() < deadline) await sleep(100);
      expect(await queue.getJobCountByTypes('wait', 'prioritized', 'active', 'delayed')).toBe(queuedBefore);

      const accepted = await postJob(api.baseUrl, { task: 'embed', model: TINY_EMBED, inputs: ['x', 'y'] });
      expect(accepted.status, JSON.stringify(accepted.body)).toBe(202);
      expect((await waitFor(api.baseUrl, accepted.body.id as string, finished, { timeoutMs: 30_000 })).state).toBe('completed');
    } finally {
      await queue.close();
    }
  });

  it('creates an OpenAI batch only once a replica holds the batch, its job and the link between them; 503 and nothing kept otherwise', async () => {
    const lines = ['one', 'two'].map((input, i) => JSON.stringify({ custom_id: `r${i}`, method: 'POST', url: '/v1/embeddings', body: { model: TINY_EMBED, input } }));
    const form = new FormData();
    form.append('purpose', 'batch');
    form.append('file', new Blob([`${lines.join('\n')}\n`]), 'batch.jsonl');
    const file = await request(api.baseUrl, '/v1/files', { method: 'POST', body: form });
    expect(file.status, JSON.stringify(file.body)).toBe(200);
    const create = () =>
      request(api.baseUrl, '/v1/batches', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input_file_id: file.body.id, endpoint: '/v1/embeddings', completion_window: '24h' }),
      });
    const batchKeys = () => scanKeys(primary, 'sw:oai:batch*');
    const before = { jobs: await scanKeys(primary, 'sw:job:*'), batches: await batchKeys(), users: await primary.smembers(`sw:oai:file:${file.body.id}:users`) };

    ha.replica.process.kill('SIGSTOP');
    let refused: Awaited<ReturnType<typeof create>>;
    try {
      refused = await create();
    } finally {
      ha.replica.process.kill('SIGCONT');
    }
    expect(refused.status, JSON.stringify(refused.body)).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(refused.body).toMatchObject({ error: { code: 'redis_not_replicated', message: expect.stringMatching(/0 of 1 Redis replicas.*the batch was not created/) } });
    // Nothing of it is left: no job, no batch record or list entry, the input file not pinned. A shard
    // a worker took before the rollback is dropped a moment later (see the test above), so this may take a second.
    const deadline = Date.now() + 10_000;
    while (JSON.stringify(await scanKeys(primary, 'sw:job:*')) !== JSON.stringify(before.jobs) && Date.now() < deadline) await sleep(100);
    expect(await scanKeys(primary, 'sw:job:*')).toEqual(before.jobs);
    expect(await batchKeys()).toEqual(before.batches);
    expect(await primary.smembers(`sw:oai:file:${file.body.id}:users`)).toEqual(before.users);
    expect((await request<{ data: unknown[] }>(api.baseUrl, '/v1/batches')).body.data).toEqual([]);

    const created = await create();
    expect(created.status, JSON.stringify(created.body)).toBe(200);
    // An idle worker may finish the two requests before the API reads the job back for the answer.
    expect(['in_progress', 'finalizing', 'completed']).toContain(created.body.status);
    expect(created.body).toMatchObject({ request_counts: { total: 2 } });
    // The link reached the replica before the 200: the replica itself names the job.
    const onReplica = new Redis(ha.replica.url, { maxRetriesPerRequest: null });
    try {
      const jobId = JSON.parse((await onReplica.hget(`sw:oai:batch:${created.body.id as string}`, 'jobId')) ?? 'null') as string | null;
      expect(jobId).toMatch(/.+/);
      expect(await onReplica.exists(`sw:job:${jobId}`)).toBe(1);
    } finally {
      onReplica.disconnect();
    }
    const finishBy = Date.now() + 30_000;
    let batch = created;
    while (batch.body.status !== 'completed' && Date.now() < finishBy) {
      await sleep(200);
      batch = await request(api.baseUrl, `/v1/batches/${created.body.id as string}`);
    }
    expect(batch.body).toMatchObject({ status: 'completed', request_counts: { total: 2, completed: 2, failed: 0 } });
  });

  it('measures what the replica acknowledgement costs in submit latency', async () => {
    const noWait = await startApi({ REDIS_MIN_REPLICAS_ACK: '0' });
    const submitTimes = async (base: string): Promise<number[]> => {
      const times: number[] = [];
      for (let i = 0; i < 60; i++) {
        const started = performance.now();
        const reply = await postJob(base, { task: 'embed', model: TINY_EMBED, inputs: [`latency ${i}`, 'two'] });
        times.push(performance.now() - started);
        expect(reply.status).toBe(202);
      }
      return times.slice(10).sort((a, b) => a - b); // the first requests warm up the API
    };
    const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
    const off = await submitTimes(noWait.baseUrl);
    const on = await submitTimes(api.baseUrl);
    console.log(
      `submit latency over 50 jobs, primary + 1 replica on loopback: REDIS_MIN_REPLICAS_ACK=0 p50 ${quantile(off, 0.5)} ms p95 ${quantile(off, 0.95)} ms; ` +
        `=1 p50 ${quantile(on, 0.5)} ms p95 ${quantile(on, 0.95)} ms`,
    );
  });
});
