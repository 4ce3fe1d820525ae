import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { syntheticCorpus } from '../../tools/synthetic-corpus.js';
import type { AppProcess } from '../support/app-process.js';
import { startRedis } from '../support/redis-server.js';
import { finished, freePort, MINILM_EMBED, MODEL_DIR, postJob, postNdjson, resultsOf, sleep, Stack, summary, tally, waitFor } from '../support/stack.js';

/**
 * Redis goes away in the middle of a job and comes back on the same port with its append-only file
 * (appendfsync always, as a persistent Redis runs): the job finishes exactly once, and the API's
 * and the worker's connections (commands, BullMQ queue and worker, cancel subscription) recover on
 * their own, with no restart of either process.
 */
describe('Redis restart mid-job (AOF on)', () => {
  let stack: Stack;
  let api: AppProcess;
  let worker: AppProcess;
  let redisPort: number;
  let redisDir: string;

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'minilm', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    redisPort = await freePort();
    redisDir = await mkdtemp(join(tmpdir(), 'sw-aof-'));
    stack = await Stack.start({ redis: { appendonly: true, dir: redisDir, port: redisPort } });
    stack.tempDir(redisDir);
    api = await stack.startApi({ SHARD_MAX_TEXTS: '16' });
    worker = await stack.startWorker({ WORKER_CONCURRENCY: '1', PRELOAD_MODELS: MINILM_EMBED, SHARD_LOCK_MS: '5000' });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('completes the job once Redis is back; API and worker reconnect by themselves', async () => {
    const items = [...syntheticCorpus(20 * 16, { seed: 5, paragraphShare: 0.05, overLimitShare: 0, emptyShare: 0 })];
    const submitted = await postNdjson(api.baseUrl, { task: 'embed', model: MINILM_EMBED }, items);
    expect(submitted.status).toBe(202);
    const id = submitted.body.id as string;
    const before = await waitFor(api.baseUrl, id, (job) => job.shards.done >= 3);
    expect(before.shards.done).toBeLessThan(before.shards.total);

    // Down hard (SIGKILL: no shutdown save; the AOF is all there is), for longer than a few lock renewals.
    await stack.redis.stop();
    const outageStarted = Date.now();
    await sleep(3000);
    expect((await fetch(`${api.baseUrl}/readyz`)).status).toBe(503);
    // Requests that need Redis answer 503 with Retry-After within seconds, instead of waiting for it.
    let asked = Date.now();
    const status = await fetch(`${api.baseUrl}/v1/jobs/${id}`, { signal: AbortSignal.timeout(20_000) });
    expect(Date.now() - asked).toBeLessThan(10_000);
    expect(status.status).toBe(503);
    expect(status.headers.get('retry-after')).toBe('5');
    expect(await status.json()).toMatchObject({ error: { code: 'REDIS_UNAVAILABLE' } });
    asked = Date.now();
    const submit = await postJob(api.baseUrl, { task: 'embed', model: MINILM_EMBED, inputs: ['while Redis is down'] });
    expect(Date.now() - asked).toBeLessThan(10_000);
    expect(submit.status, JSON.stringify(submit.body)).toBe(503);
    expect(submit.body).toMatchObject({ error: { code: 'REDIS_UNAVAILABLE' } });
    console.log(`[reliability] while Redis was down: GET /v1/jobs/:id and POST /v1/jobs answered 503 REDIS_UNAVAILABLE, the POST after ${Date.now() - asked} ms`);
    stack.redis = await startRedis({ appendonly: true, dir: redisDir, port: redisPort });
    const outageMs = Date.now() - outageStarted;

    const job = await waitFor(api.baseUrl, id, finished, { timeoutMs: 120_000 });
    expect(job.state).toBe('completed');
    expect(job.counts).toMatchObject({ total: items.length, succeeded: items.length, failed: 0 });
    expect(job.shards).toMatchObject({ total: 20, done: 20, failed: 0 });
    const t = tally(items, await resultsOf(api.baseUrl, id));
    console.log(`[reliability] Redis restart (AOF, ${outageMs} ms down): ${JSON.stringify(summary(t))}`);
    expect(summary(t)).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: items.length, failed: 0 });

    // Same processes, still serving: a new job is accepted and run, and a cancel reaches the worker.
    expect(api.process.exitCode).toBeNull();
    expect(worker.process.exitCode).toBeNull();
    expect((await fetch(`${api.baseUrl}/readyz`)).status).toBe(200);
    expect((await fetch(`${worker.baseUrl}/readyz`)).status).toBe(200);
    const next = await postJob(api.baseUrl, { task: 'embed', model: MINILM_EMBED, inputs: ['after the restart', 'still here'] });
    expect(next.status).toBe(202);
    const done = await waitFor(api.baseUrl, next.body.id as string, finished, { timeoutMs: 60_000 });
    expect(done.state).toBe('completed');

    // The worker's cancel subscription came back (ioredis resubscribes after reconnecting)...
    const [, subscribers] = (await stack.client().pubsub('NUMSUB', `${stack.prefix}:cancel`)) as [string, number];
    expect(Number(subscribers)).toBeGreaterThanOrEqual(1);
    // ...and a cancel reaches a running shard. Paragraph-long texts make each shard last long enough
    // that one is surely running when the cancel is published.
    const long = await postNdjson(api.baseUrl, { task: 'embed', model: MINILM_EMBED }, syntheticCorpus(30 * 16, { seed: 6, paragraphShare: 1, overLimitShare: 0 }));
    const longId = long.body.id as string;
    await waitFor(api.baseUrl, longId, (j) => j.shards.done >= 1);
    expect((await fetch(`${api.baseUrl}/v1/jobs/${longId}/cancel`, { method: 'POST' })).status).toBe(200);
    const deadline = Date.now() + 10_000;
    while (!worker.output().includes(`job ${longId} cancelled: aborting`) && Date.now() < deadline) await sleep(50);
    expect(worker.output()).toContain(`job ${longId} cancelled: aborting`);
  });
});
