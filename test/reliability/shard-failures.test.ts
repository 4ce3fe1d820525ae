import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppProcess } from '../support/app-process.js';
import { ensurePoisonModel, POISON_WORD } from '../support/poison-model.js';
import { finished, postJob, request, resultsOf, Stack, summary, tally, waitFor, type ResultLine } from '../support/stack.js';

/**
 * Failures inside a shard, end to end:
 * - a poison input that makes inference throw (a real onnxruntime error, see poison-model.ts): only
 *   that item fails, the rest of its shard succeeds with the same values as without it;
 * - result-store writes failing with ENOSPC (SHARDWISE_FAULT_RESULT_WRITE, a test-only fault hook):
 *   once per shard, the shard is retried with backoff and succeeds; on every attempt, the shard ends
 *   failed and each of its items carries the reason;
 * - reads of the shard's input range failing with EIO (SHARDWISE_FAULT_STORE_READ, test-only): once
 *   per shard, it is retried and succeeds; always, its items fail with the reason (their ids unknown,
 *   since the input cannot be read; the index names each item).
 */
const SHARD_TEXTS = 10;

function texts(count: number, tag: string): Array<{ id: string; text: string }> {
  return Array.from({ length: count }, (_, i) => ({ id: `${tag}-${i}`, text: `${tag} text ${i}: the queue worker embeds this sentence number ${i}` }));
}

describe('shard failures: poison input, result-store write failures', () => {
  let stack: Stack;
  let base: string;
  let model: string;
  let worker: AppProcess | undefined;

  beforeAll(async () => {
    const modelDir = await mkdtemp(join(tmpdir(), 'sw-models-'));
    model = await ensurePoisonModel(modelDir);
    stack = await Stack.start({ modelDir, env: { SHARD_ATTEMPTS: '3' } });
    stack.tempDir(modelDir);
    base = (await stack.startApi({ SHARD_MAX_TEXTS: String(SHARD_TEXTS) })).baseUrl;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function useWorker(env: Record<string, string>): Promise<AppProcess> {
    if (worker) expect(await worker.stop('SIGTERM')).toBe(0);
    worker = await stack.startWorker({ PRELOAD_MODELS: model, ...env });
    return worker;
  }

  it('a poison input fails alone; the rest of its shard succeeds with unchanged values', async () => {
    await useWorker({});
    const items = texts(3 * SHARD_TEXTS, 'p');
    const poisoned = 13; // second shard, fourth item: the whole shard is one inference batch
    items[poisoned] = { id: 'p-13', text: `this one carries ${POISON_WORD} in the middle` };
    const control = items.filter((_, i) => i !== poisoned);

    const submitted = await postJob(base, { task: 'embed', model, inputs: items });
    const reference = await postJob(base, { task: 'embed', model, inputs: control });
    const job = await waitFor(base, submitted.body.id as string, finished);
    await waitFor(base, reference.body.id as string, finished);
    expect(job.state).toBe('completed');
    expect(job.counts).toMatchObject({ total: 30, succeeded: 29, failed: 1 });

    const lines = await resultsOf(base, job.id);
    const t = tally(items, lines);
    console.log(`[reliability] poison input: ${JSON.stringify(summary(t))}`);
    expect(summary(t)).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: 29, failed: 1 });
    const bad = lines[poisoned] as Extract<ResultLine, { error: unknown }>;
    expect(bad.error.code).toBe('INFERENCE_FAILED');
    expect(bad.error.message).toMatch(/Gather.*out of data bounds/);

    // Its shard-mates got the same embeddings as in a job without the poison.
    const expected = new Map((await resultsOf(base, reference.body.id as string)).map((l) => [l.id, l]));
    for (let i = SHARD_TEXTS; i < 2 * SHARD_TEXTS; i++) {
      if (i === poisoned) continue;
      const got = lines[i] as Extract<ResultLine, { embedding: number[] }>;
      const want = expected.get(got.id) as Extract<ResultLine, { embedding: number[] }>;
      expect(got.embedding.length).toBe(32);
      got.embedding.forEach((v, d) => expect(Math.abs(v - (want.embedding[d] as number))).toBeLessThan(1e-5));
    }
    const errors = await request(base, `/v1/jobs/${job.id}/errors`);
    expect(String(errors.body).trim().split('\n')).toHaveLength(1);
  });

  it('a failed result write (ENOSPC) is retried with backoff and the shard succeeds', async () => {
    const w = await useWorker({ SHARDWISE_FAULT_RESULT_WRITE: '1' });
    const items = texts(3 * SHARD_TEXTS, 'r');
    const submitted = await postJob(base, { task: 'embed', model, inputs: items });
    const job = await waitFor(base, submitted.body.id as string, finished);
    expect(job.state).toBe('completed');
    expect(job.counts).toMatchObject({ total: 30, succeeded: 30, failed: 0 });
    const t = tally(items, await resultsOf(base, job.id));
    console.log(`[reliability] result write fails once per shard: ${JSON.stringify(summary(t))}`);
    expect(summary(t)).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: 30, failed: 0 });
    expect(w.output().match(/attempt 1\/3 failed, will retry: ENOSPC/g)).toHaveLength(3);

    const queue = stack.queue();
    const shards = await Promise.all([0, 1, 2].map((n) => queue.getJob(`${job.id}-${n}`)));
    await queue.close();
    // Two attempts each: the failed write, then the one that counted.
    expect(shards.map((s) => s?.attemptsMade)).toEqual([2, 2, 2]);
  });

  it('a shard whose writes keep failing ends failed, with the reason recorded for each of its items', async () => {
    await useWorker({ SHARDWISE_FAULT_RESULT_WRITE: '3' });
    const items = texts(2 * SHARD_TEXTS, 'f');
    const submitted = await postJob(base, { task: 'embed', model, inputs: items });
    const job = await waitFor(base, submitted.body.id as string, finished, { timeoutMs: 60_000 });
    expect(job.state).toBe('failed');
    expect(job.counts).toMatchObject({ total: 20, succeeded: 0, failed: 20 });
    expect(job.shards).toMatchObject({ total: 2, done: 2, failed: 2 });
    expect(job.error).toMatch(/ENOSPC: no space left on device/);

    const lines = await resultsOf(base, job.id);
    const t = tally(items, lines);
    console.log(`[reliability] result write always fails: ${JSON.stringify(summary(t))}; reason: ${job.error}`);
    expect(summary(t)).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: 0, failed: 20 });
    for (const line of lines) {
      expect(line).toMatchObject({ error: { code: 'SHARD_FAILED' } });
      expect((line as Extract<ResultLine, { error: unknown }>).error.message).toMatch(/ENOSPC/);
    }
  });

  it('a failed read of the shard input (EIO) is retried and the shard succeeds', async () => {
    const w = await useWorker({ SHARDWISE_FAULT_STORE_READ: '1', SHARDWISE_FAULT_STORE_KEYS: '/input\\.ndjson$' });
    const items = texts(3 * SHARD_TEXTS, 'i');
    const submitted = await postJob(base, { task: 'embed', model, inputs: items });
    const job = await waitFor(base, submitted.body.id as string, finished);
    expect(job).toMatchObject({ state: 'completed', counts: { total: 30, succeeded: 30, failed: 0 } });
    const t = tally(items, await resultsOf(base, job.id));
    console.log(`[reliability] input read fails once per shard: ${JSON.stringify(summary(t))}`);
    expect(summary(t)).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: 30, failed: 0 });
    // The fault is per object: the first shard to read the job's input hit it, the others read it fine.
    expect(w.output().match(/attempt 1\/3 failed, will retry: EIO/g)?.length).toBeGreaterThanOrEqual(1);
  });

  it('a shard whose input can never be read ends failed, each item naming the reason', async () => {
    await useWorker({ SHARDWISE_FAULT_STORE_READ: 'always', SHARDWISE_FAULT_STORE_KEYS: '/input\\.ndjson$' });
    const items = texts(2 * SHARD_TEXTS, 'u');
    const submitted = await postJob(base, { task: 'embed', model, inputs: items });
    const job = await waitFor(base, submitted.body.id as string, finished, { timeoutMs: 60_000 });
    expect(job).toMatchObject({ state: 'failed', counts: { total: 20, succeeded: 0, failed: 20 }, shards: { total: 2, done: 2, failed: 2 } });
    const lines = await resultsOf(base, job.id);
    expect(lines.map((line) => line.index)).toEqual(items.map((_, i) => i));
    for (const line of lines) {
      expect(line).toMatchObject({ id: null, error: { code: 'SHARD_FAILED' } });
      expect((line as Extract<ResultLine, { error: unknown }>).error.message).toMatch(/EIO/);
    }
    console.log(`[reliability] input read always fails: ${lines.length} items failed with "${(lines[0] as Extract<ResultLine, { error: unknown }>).error.message}"`);
  });
});
