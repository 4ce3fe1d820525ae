import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { UnrecoverableError } from 'bullmq';
import { FAKE_DIMS, fakeEmbedding } from './fake-pool.js';
import { createHarness, fakeJob, jobRecord, shardPayload, type Harness } from './harness.js';
import { startRedisServer, type TestRedis } from './redis-server.js';

let server: TestRedis;
let h: Harness;

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server?.stop();
});
beforeEach(async () => {
  h = await createHarness(server.url);
});
afterEach(async () => {
  await h.close();
});

const shardDir = (jobId: string, shard = 0) => join(h.env.RESULTS_DIR, jobId, String(shard).padStart(6, '0'));
const readLines = async (jobId: string, file: string, shard = 0) =>
  (await readFile(join(shardDir(jobId, shard), file), 'utf8'))
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);

describe('ShardProcessorService', () => {
  it('processes a shard: files in input order and job counters', async () => {
    await h.jobs.create(jobRecord('j1'));
    const outcome = await h.processor.process(fakeJob(shardPayload('j1', { start: 10 })));

    expect(outcome).toEqual({ succeeded: 2, failed: 1, truncated: 1, tokens: 4 + 5 + 5 });
    const results = await readLines('j1', 'results.ndjson');
    expect(results.map((r) => [r.id, r.index])).toEqual([['a', 10], ['b', 11], ['c', 12]]);
    expect(results[0]).toEqual({ id: 'a', index: 10, embedding: [11, 104, 0.1, -0.33333334] });
    expect(Float32Array.from(results[0].embedding as number[])).toEqual(fakeEmbedding('hello world'));
    expect(results[1]).toEqual({ id: 'b', index: 11, error: { code: 'TEXT_TOO_LONG', message: 'too long' } });
    expect(results[2].truncated).toBe(true);
    expect(await readLines('j1', 'errors.ndjson')).toEqual([results[1]]);
    const binary = await readFile(join(shardDir('j1'), 'embeddings.f32'));
    expect(binary.length).toBe(3 * FAKE_DIMS * 4);
    expect(binary.readFloatLE(0)).toBe(11);
    expect(Number.isNaN(binary.readFloatLE(FAKE_DIMS * 4))).toBe(true);
    expect(JSON.parse(await readFile(join(shardDir('j1'), 'summary.json'), 'utf8'))).toEqual(outcome);

    const job = await h.jobs.get('j1');
    expect(job).toMatchObject({ state: 'completed', succeeded: 2, failed: 1, truncated: 1, tokens: 14, shardsDone: 1 });
    expect(h.pool.loads).toEqual(['embed:fake/model']);
    const metrics = (await h.metrics.render()).body;
    expect(metrics).toContain('shardwise_worker_shards_total{task="embed",model="fake/model",outcome="completed"} 1');
    expect(metrics).toContain('shardwise_worker_items_failed_total{code="TEXT_TOO_LONG"} 1');
    expect(metrics).toContain('shardwise_worker_texts_total{task="embed",model="fake/model"} 3');
    expect(metrics).not.toContain('j1');
  });

  it('writes sentiment lines with label, score and scores', async () => {
    await h.jobs.create(jobRecord('s1', { task: 'sentiment', dimensions: null }));
    const payload = shardPayload('s1', { task: 'sentiment', items: [{ id: 'x', text: 'good stuff' }] });
    await h.processor.process(fakeJob(payload));
    expect(await readLines('s1', 'results.ndjson')).toEqual([
      { id: 'x', index: 0, label: 'POSITIVE', score: 0.9, scores: { POSITIVE: 0.9, NEGATIVE: 0.1 } },
    ]);
    expect((await readdir(shardDir('s1'))).sort()).toEqual(['results.ndjson', 'summary.json']);
  });

  it('counts a shard processed twice once and keeps one copy', async () => {
    await h.jobs.create(jobRecord('j2', { shardsTotal: 2, total: 6 }));
    const first = await h.processor.process(fakeJob(shardPayload('j2')));
    const before = await readFile(join(shardDir('j2'), 'results.ndjson'));
    const second = await h.processor.process(fakeJob(shardPayload('j2')));

    expect(second).toEqual(first);
    expect(h.pool.encodes).toBe(1); // the second run counted the stored copy, it did not recompute
    expect(await readFile(join(shardDir('j2'), 'results.ndjson'))).toEqual(before);
    expect((await readdir(join(h.env.RESULTS_DIR, 'j2'))).filter((d) => !d.startsWith('.'))).toEqual(['000000']);
    expect(await h.jobs.get('j2')).toMatchObject({ state: 'running', succeeded: 2, failed: 1, shardsDone: 1 });
  });

  it('counts a shard whose files were written by a run that died before counting', async () => {
    await h.jobs.create(jobRecord('j3'));
    const summary = { succeeded: 3, failed: 0, truncated: 0, tokens: 30 };
    await h.results.writeShard('j3', 0, { results: '{}\n', summary });
    expect(await h.processor.process(fakeJob(shardPayload('j3')))).toEqual(summary);
    expect(h.pool.encodes).toBe(0);
    expect(await h.jobs.get('j3')).toMatchObject({ state: 'completed', succeeded: 3, tokens: 30 });
  });

  it('skips a shard of a cancelled job without work', async () => {
    await h.jobs.create(jobRecord('j4'));
    await h.jobs.cancel('j4');
    expect(await h.processor.process(fakeJob(shardPayload('j4')))).toBeNull();
    expect(h.pool.encodes).toBe(0);
    expect(await h.results.hasShard('j4', 0)).toBe(false);
    expect(await h.jobs.get('j4')).toMatchObject({ state: 'cancelled', shardsDone: 0 });
  });

  it('drops a shard whose job no longer exists', async () => {
    expect(await h.processor.process(fakeJob(shardPayload('gone')))).toBeNull();
    expect(h.pool.encodes).toBe(0);
    expect(await h.results.hasShard('gone', 0)).toBe(false);
  });

  it('aborts a running shard when a cancel for its job is published', async () => {
    await h.jobs.create(jobRecord('j5'));
    let release = () => undefined as void;
    h.pool.gate = new Promise<void>((r) => (release = r));
    const blocked = new Promise<void>((r) => (h.pool.onBlocked = r));
    const running = h.processor.process(fakeJob(shardPayload('j5')));
    await blocked;
    await h.jobs.cancel('j5');
    await h.redis.client.publish(`${h.env.REDIS_PREFIX}:cancel`, 'j5');
    expect(await running).toBeNull();
    release();
    expect(await h.results.hasShard('j5', 0)).toBe(false);
    expect(await h.jobs.get('j5')).toMatchObject({ state: 'cancelled', shardsDone: 0 });
  });

  it('rejects a bad payload as unrecoverable, with the reason', async () => {
    const error = await h.processor.process(fakeJob({ v: 1, jobId: 'x' })).catch((e: Error) => e);
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect((error as Error).message).toMatch(/invalid shard payload.*shard/s);
  });

  it('lets a pool error propagate so BullMQ retries', async () => {
    await h.jobs.create(jobRecord('j6'));
    h.pool.failWith = new Error('thread crashed');
    await expect(h.processor.process(fakeJob(shardPayload('j6')))).rejects.toThrow('thread crashed');
    expect(await h.results.hasShard('j6', 0)).toBe(false);
    expect(await h.jobs.get('j6')).toMatchObject({ state: 'running', shardsDone: 0 });
  });

  it('makes permanent model errors unrecoverable', async () => {
    await h.jobs.create(jobRecord('j7'));
    h.pool.failWith = Object.assign(new Error('unknown model "nope"'), { name: 'UnknownModelError' });
    await expect(h.processor.process(fakeJob(shardPayload('j7')))).rejects.toBeInstanceOf(UnrecoverableError);
  });
});

describe('ShardFailureService', () => {
  it('only logs a failed attempt that will be retried', async () => {
    await h.jobs.create(jobRecord('f1'));
    await h.failures.onFailedAttempt(fakeJob(shardPayload('f1'), 1, 3), new Error('boom'));
    expect(await h.results.hasShard('f1', 0)).toBe(false);
    expect(await h.jobs.get('f1')).toMatchObject({ shardsDone: 0 });
  });

  it('on the last attempt writes SHARD_FAILED lines and fails the shard', async () => {
    await h.jobs.create(jobRecord('f2'));
    await h.failures.onFailedAttempt(fakeJob(shardPayload('f2', { start: 3 }), 3, 3), new Error('thread crashed'));
    const results = await readLines('f2', 'results.ndjson');
    expect(results).toEqual(
      ['a', 'b', 'c'].map((id, i) => ({ id, index: 3 + i, error: { code: 'SHARD_FAILED', message: 'thread crashed' } })),
    );
    expect(await readLines('f2', 'errors.ndjson')).toEqual(results);
    const binary = await readFile(join(shardDir('f2'), 'embeddings.f32'));
    expect(binary.length).toBe(3 * 4 * 4);
    expect(await h.jobs.get('f2')).toMatchObject({ state: 'failed', failed: 3, shardsDone: 1, shardsFailed: 1, error: 'thread crashed' });
    expect((await h.metrics.render()).body).toContain('shardwise_worker_items_failed_total{code="SHARD_FAILED"} 3');
  });

  it('treats an unrecoverable error as final before the attempts run out', async () => {
    await h.jobs.create(jobRecord('f3'));
    await h.failures.onFailedAttempt(fakeJob(shardPayload('f3'), 1, 3), new UnrecoverableError('job stalled more than allowable limit'));
    expect(await h.jobs.get('f3')).toMatchObject({ state: 'failed', shardsFailed: 1 });
  });

  it('still fails the shard when the failure files cannot be written', async () => {
    await h.jobs.create(jobRecord('f4'));
    await h.results.deleteJob('f4');
    const { chmod, mkdir } = await import('node:fs/promises');
    await mkdir(join(h.env.RESULTS_DIR, 'f4'));
    await chmod(join(h.env.RESULTS_DIR, 'f4'), 0o500);
    try {
      await h.failures.onFailedAttempt(fakeJob(shardPayload('f4'), 3, 3), new Error('disk gone'));
    } finally {
      await chmod(join(h.env.RESULTS_DIR, 'f4'), 0o700);
    }
    expect(await h.jobs.get('f4')).toMatchObject({ state: 'failed', failed: 3, shardsDone: 1 });
  });

  it('counts an already written copy instead of failing it', async () => {
    await h.jobs.create(jobRecord('f5'));
    const summary = { succeeded: 3, failed: 0, truncated: 0, tokens: 12 };
    await h.results.writeShard('f5', 0, { results: '{}\n', summary });
    await h.failures.onFailedAttempt(fakeJob(shardPayload('f5'), 3, 3), new Error('redis blip after writing'));
    expect(await h.jobs.get('f5')).toMatchObject({ state: 'completed', succeeded: 3, failed: 0, shardsFailed: 0 });
  });

  it('closes the shard of an unparsable payload when its identity is readable', async () => {
    await h.jobs.create(jobRecord('f6', { total: 2 }));
    const payload = { ...shardPayload('f6'), v: 2, items: [{}, {}] };
    await h.failures.onFailedAttempt(fakeJob(payload, 1, 3), new UnrecoverableError('invalid shard payload'));
    expect(await h.jobs.get('f6')).toMatchObject({ state: 'failed', failed: 2, shardsDone: 1 });
  });
});
