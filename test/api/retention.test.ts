import { mkdtemp, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import type { AppProcess } from '../support/app-process.js';
import { finished, jobOf, MODEL_DIR, postJob, request, sleep, Stack, TINY_EMBED, waitFor } from '../support/stack.js';

/**
 * Retention and deletion: DELETE /v1/jobs/:id, expires_after on jobs and files, the janitor that
 * deletes what expired in bounded batches, the store's size as metrics, and Redis and the store
 * back where they started once 10,000 jobs have expired. The worker runs the test-only no-op
 * engine (fixed vectors), so 10,000 jobs take seconds of work, not of inference.
 */
const JANITOR = { STORE_JANITOR_MS: '250', ORPHAN_GRACE_MS: '1000' };

async function usedMemory(stack: Stack): Promise<number> {
  const info = await stack.client().info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1]);
}

async function jobFolders(stack: Stack): Promise<string[]> {
  return readdir(join(stack.resultsDir, 'jobs')).catch(() => []);
}

async function metric(api: AppProcess, name: string): Promise<number> {
  const text = await (await fetch(`${api.baseUrl}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return line === undefined ? Number.NaN : Number(line.split(' ')[1]);
}

describe('retention and deletion', () => {
  let stack: Stack;
  let api: AppProcess;
  let worker: AppProcess;
  let base: string;
  const NOOP = { INFERENCE_ENGINE: 'noop-test-only', SHARDWISE_ALLOW_NOOP_ENGINE: '1', WORKER_CONCURRENCY: '4' };

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    stack = await Stack.start();
    api = await stack.startApi(JANITOR);
    base = api.baseUrl;
    worker = await stack.startWorker(NOOP);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('deletes a finished job with DELETE: record, shard records and objects; refuses a running one unless cancel=true', async () => {
    const done = await postJob(base, { task: 'embed', model: TINY_EMBED, inputs: ['a', 'b', 'c'], expires_after: 3600 });
    const id = done.body.id as string;
    const job = await waitFor(base, id, finished);
    expect(job.expires_after).toBe(3600);
    expect(Date.parse(job.expires_at!) - Date.parse(job.finished_at!)).toBe(3600_000);
    expect(await jobFolders(stack)).toContain(id);
    const queue = stack.queue();
    expect(await queue.getJob(`${id}-0`)).toBeTruthy();

    const deleted = await request(base, `/v1/jobs/${id}`, { method: 'DELETE' });
    expect([deleted.status, deleted.body]).toEqual([200, { id, object: 'job', deleted: true }]);
    expect((await request(base, `/v1/jobs/${id}`)).status).toBe(404);
    expect(await queue.getJob(`${id}-0`)).toBeUndefined();
    expect(await jobFolders(stack)).not.toContain(id);
    expect(await stack.client().zscore(`${stack.prefix}:expiry`, id)).toBeNull();
    expect((await request(base, `/v1/jobs/${id}`, { method: 'DELETE' })).status).toBe(404);

    // A queued job (no worker serves this prefix): refused, then deleted with cancel=true.
    // Another installation: its own prefix and its own store (a janitor removes what its Redis does not know).
    const idleStore = await mkdtemp(join(tmpdir(), 'sw-idle-store-'));
    stack.tempDir(idleStore);
    const idle = await stack.startApi({ ...JANITOR, REDIS_PREFIX: 'idle', RESULTS_DIR: idleStore });
    const queued = await postJob(idle.baseUrl, { task: 'embed', model: TINY_EMBED, inputs: ['x'] });
    const running = await request(idle.baseUrl, `/v1/jobs/${queued.body.id as string}`, { method: 'DELETE' });
    expect(running.status).toBe(409);
    expect((running.body as { error: { code: string } }).error.code).toBe('JOB_RUNNING');
    expect((await request(idle.baseUrl, `/v1/jobs/${queued.body.id as string}?cancel=true`, { method: 'DELETE' })).status).toBe(200);
    const idleQueue = new (await import('bullmq')).Queue('shards', { connection: { url: stack.redis.url }, prefix: 'idle:bull' });
    expect(await idleQueue.getJobCounts('waiting', 'prioritized')).toEqual({ waiting: 0, prioritized: 0 });
    await idleQueue.close();
    await queue.close();
  });

  it('expires a job expires_after seconds after it ends, and a file expires_after seconds after its upload', async () => {
    const submitted = await postJob(base, { task: 'embed', model: TINY_EMBED, inputs: ['short-lived'], expires_after: 1 });
    const id = submitted.body.id as string;
    expect((await jobOf(base, id)).expires_at).toBeNull;
    await waitFor(base, id, finished);
    const deadline = Date.now() + 15_000;
    while ((await request(base, `/v1/jobs/${id}`)).status !== 404 && Date.now() < deadline) await sleep(100);
    expect((await request(base, `/v1/jobs/${id}`)).status).toBe(404);
    expect(await jobFolders(stack)).not.toContain(id);

    const form = new FormData();
    form.set('purpose', 'user_data');
    form.set('expires_after[anchor]', 'created_at');
    form.set('expires_after[seconds]', '1');
    form.set('file', new Blob(['{"text":"a"}\n']), 'c.jsonl');
    const file = (await (await fetch(`${base}/v1/files`, { method: 'POST', body: form })).json()) as { id: string; created_at: number; expires_at: number };
    expect(file.expires_at - file.created_at).toBe(1);
    while ((await request(base, `/v1/files/${file.id}`)).status !== 404 && Date.now() < deadline + 15_000) await sleep(100);
    expect((await request(base, `/v1/files/${file.id}`)).status).toBe(404);
    expect(await readdir(join(stack.resultsDir, 'files')).catch(() => [])).not.toContain(file.id);
  });

  it('after 10,000 small jobs have expired, Redis memory is back near its starting value and the store holds nothing of them', async () => {
    // Settle first: earlier jobs of this file expired or were deleted.
    const client = stack.client();
    const settle = Date.now() + 20_000;
    while (((await client.zcard(`${stack.prefix}:expiry`)) > 0 || (await jobFolders(stack)).length > 0) && Date.now() < settle) await sleep(200);
    // Queued first, with no worker: what 10,000 waiting jobs cost Redis.
    expect(await worker.stop('SIGTERM')).toBe(0);
    const before = await usedMemory(stack);
    const countersBefore = await client.hgetall(`${stack.prefix}:store`);
    const started = Date.now();

    const total = Number(process.env.RETENTION_TEST_JOBS ?? 10_000);
    let next = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (next < total) {
          const i = next++;
          const reply = await postJob(base, { task: 'embed', model: TINY_EMBED, inputs: [`small job ${i}`, `second text ${i}`], expires_after: 2 });
          expect(reply.status).toBe(202);
        }
      }),
    );
    const submitted = Date.now();
    const peak = await usedMemory(stack);
    expect(Number(await client.hget(`${stack.prefix}:stats`, 'jobs:queued'))).toBe(total);
    // One input object each (a one-shard job writes no manifest).
    expect(await metric(api, 'shardwise_store_objects')).toBe(Number(countersBefore.objects ?? 0) + total);

    // Then processed, and each deleted 2 s after it ended, by the janitor in bounded batches.
    worker = await stack.startWorker(NOOP);
    const gone = Date.now() + 400_000;
    while (((await client.zcard(`${stack.prefix}:jobs:default`)) > 0 || (await client.zcard(`${stack.prefix}:expiry`)) > 0) && Date.now() < gone) await sleep(500);
    const expired = Date.now();
    const after = await usedMemory(stack);
    const leftKeys = (await client.keys(`${stack.prefix}:job:*`)).length;
    const leftShards = await stack.queue().getJobCounts('completed', 'waiting', 'active', 'failed');
    const folders = await jobFolders(stack);
    const objectsAfter = await metric(api, 'shardwise_store_objects');
    const objectsBefore = Number(countersBefore.objects ?? 0);
    // What is left is shared state: the capped event stream, counters, worker reports.
    const left = await Promise.all((await client.keys('*')).map(async (key) => [key, Number(await client.call('MEMORY', 'USAGE', key))] as const));
    const largest = left
      .sort((a, b) => b[1] - a[1])
      .slice(0, 3)
      .map(([key, bytes]) => `${key} ${bytes} B`);
    console.log(
      `[retention] ${total} jobs: submitted in ${((submitted - started) / 1000).toFixed(1)} s (no worker), then processed, expired and deleted ` +
        `${((expired - submitted) / 1000).toFixed(1)} s later; Redis used_memory ${(before / 1e6).toFixed(2)} MB before, ` +
        `${(peak / 1e6).toFixed(2)} MB with them queued, ${(after / 1e6).toFixed(2)} MB after (${((after - before) / 1e3).toFixed(0)} kB left); ` +
        `${leftKeys} job keys, shard records ${JSON.stringify(leftShards)}, ${folders.length} job folders, store objects ${objectsBefore} -> ${objectsAfter}; ` +
        `largest keys left: ${largest.join(', ')}`,
    );
    expect(leftKeys).toBe(0);
    expect(leftShards).toEqual({ completed: 0, waiting: 0, active: 0, failed: 0 });
    expect(folders).toEqual([]);
    expect(objectsAfter).toBe(objectsBefore);
    // Near: within 2 MB of where it started, and a tenth of what the queued jobs took.
    expect(after - before).toBeLessThan(2_000_000);
    expect(after - before).toBeLessThan((peak - before) / 10);
  }, 600_000);
});
