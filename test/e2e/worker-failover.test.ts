import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { syntheticCorpus } from '../../tools/synthetic-corpus.js';
import { API_ENTRY, startApp, WORKER_ENTRY, type AppProcess } from '../support/app-process.js';
import { freePort, startRedis, type RedisHandle } from '../support/redis-server.js';
import { finished, postNdjson, resultsOf, waitFor } from '../support/stack.js';

const MODEL_DIR = resolve(import.meta.dirname, '../../.cache/models');
// MiniLM-sized so that shards take long enough to kill a worker in the middle of one.
const MODEL = 'shardwise-random/bert-minilm-embed';

describe('two workers share a job; a worker killed mid-job leaves no gap and no duplicate', () => {
  let redis: RedisHandle;
  let api: AppProcess;
  const workers: AppProcess[] = [];
  let resultsDir: string;
  let workerEnv: Record<string, string>;

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'minilm', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    redis = await startRedis();
    resultsDir = await mkdtemp(join(tmpdir(), 'sw-results-'));
    const common = { REDIS_URL: redis.url, MODEL_DIR, RESULTS_DIR: resultsDir };
    const apiPort = await freePort();
    api = await startApp(API_ENTRY, { ...common, PORT: String(apiPort), SHARD_MAX_TEXTS: '40' }, apiPort);
    // A short lock so the killed worker's shard is taken over within seconds.
    workerEnv = { ...common, INFERENCE_THREADS: '1', WORKER_CONCURRENCY: '1', PRELOAD_MODELS: MODEL, SHARD_LOCK_MS: '3000' };
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      workers.push(await startApp(WORKER_ENTRY, { ...workerEnv, WORKER_PORT: String(port) }, port));
    }
  });

  afterAll(async () => {
    for (const worker of workers) await worker.stop('SIGKILL');
    await api?.stop();
    await redis?.stop();
    if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
  });

  it('finishes every shard exactly once after kill -9 of one worker', async () => {
    const items = [...syntheticCorpus(1200, { seed: 21, paragraphShare: 0.1, overLimitShare: 0 })];
    const submitted = await postNdjson(api.baseUrl, { task: 'embed', model: MODEL }, items);
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const id = submitted.body.id as string;

    // Both workers must have taken shards before one dies; kill it while the job is far from done.
    const midway = await waitFor(api.baseUrl, id, (job) => job.shards.done >= 4, { timeoutMs: 240_000 });
    expect(midway.shards.done).toBeLessThan(midway.shards.total);
    const exitCode = await workers[0].stop('SIGKILL');
    expect(exitCode).toBeNull();

    // The killed worker held a shard (concurrency 1, work waiting): the job can only finish if
    // BullMQ's stalled check hands that shard to the survivor.
    const job = await waitFor(api.baseUrl, id, finished, { timeoutMs: 400_000 });
    expect(job.state).toBe('completed');
    expect(job.counts).toMatchObject({ total: items.length, succeeded: items.length, failed: 0 });
    expect(job.shards).toMatchObject({ total: 30, done: 30, failed: 0 });

    const lines = await resultsOf(api.baseUrl, id);
    expect(lines).toHaveLength(items.length);
    expect(lines.map((l) => l.index)).toEqual(items.map((_, i) => i));
    expect(lines.every((l) => 'embedding' in l && l.embedding.length === 384)).toBe(true);

    // The shard the dead worker held was detected as stalled and started again by the survivor.
    const queue = new Queue('shards', { connection: { url: redis.url }, prefix: 'sw:bull' });
    const shards = await queue.getJobs(['completed']);
    await queue.close();
    expect(shards).toHaveLength(30);
    expect(shards.filter((shard) => shard.stalledCounter > 0 || shard.attemptsStarted > 1).length).toBeGreaterThanOrEqual(1);
  });
});
