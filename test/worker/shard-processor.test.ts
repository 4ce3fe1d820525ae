import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { UnrecoverableError } from 'bullmq';
import {
  FaultyObjectStore,
  fileKey,
  itemId,
  jobResultsPrefix,
  ResultStore,
  shardResultKey,
  ShardResultWriter,
  type ObjectStore,
  type ResultLine,
  type ShardPayload,
  UsageLedger,
  usageDay,
} from '#shared';
import { ShardFailureService } from '../../apps/worker/src/shards/shard-failure.service.js';
import { ShardProcessorService } from '../../apps/worker/src/shards/shard-processor.service.js';
import { FAKE_DIMS, fakeEmbedding } from './fake-pool.js';
import { fakeJob, jobRecord, type Harness, useHarness } from './harness.js';

let h: Harness;
useHarness((harness) => {
  h = harness;
});

const storedShard = async (jobId: string, shard = 0) => {
  const result = await h.results.readShard(jobId, shard);
  if (result === null) throw new Error(`shard ${shard} of job ${jobId} was not written`);
  return result;
};
/** The lines of the NDJSON file the API renders from the stored shard, parsed. */
const renderedLines = async (jobId: string, part: 'results' | 'errors', shard = 0) =>
  (await storedShard(jobId, shard))
    .renderNdjson(part)
    .toString('utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as ResultLine);
const storedKeys = async (jobId: string) => {
  const keys: string[] = [];
  for await (const { key } of h.objects.list(jobResultsPrefix(jobId))) keys.push(key);
  return keys;
};
/** A copy of shard 0 of 3 items as a run that died before counting it would have left it. */
const writeStoredCopy = async (jobId: string, tokensEach: number) => {
  const writer = new ShardResultWriter({ task: 'embed', start: 0, count: 3, ids: ['a', 'b', 'c'], dimensions: FAKE_DIMS });
  for (let i = 0; i < 3; i++) writer.setEmbedding(i, [i, 1, 2, 3], { tokens: tokensEach, truncated: false });
  const object = writer.finish();
  expect(await h.results.writeShard(jobId, 0, object)).toBe('written');
  return { object, summary: writer.outcome };
};
/** Holds the pool's encode() calls until release(); `blocked` resolves once one waits. */
const holdPool = () => {
  let release: () => void = () => undefined;
  h.pool.gate = new Promise<void>((r) => (release = r));
  const blocked = new Promise<void>((r) => (h.pool.onBlocked = r));
  return { blocked, release: () => release() };
};
/** A processor and a failure service like the harness's, over another object store. */
const servicesOver = (objects: ObjectStore) => {
  const results = new ResultStore(objects);
  return {
    processor: new ShardProcessorService(h.jobs, results, objects, h.models, h.cancels, h.metrics),
    failures: new ShardFailureService(h.jobs, results, objects, h.metrics),
  };
};

describe('ShardProcessorService', () => {
  it('processes a shard: one result object in input order and job counters', async () => {
    await h.jobs.create(jobRecord('j1'));
    const outcome = await h.processor.process(fakeJob(await h.shard('j1', { start: 10 })));

    expect(outcome).toEqual({ succeeded: 2, failed: 1, truncated: 1, tokens: 4 + 5 + 5 });
    expect(await storedKeys('j1')).toEqual([shardResultKey('j1', 0)]);
    const results = await renderedLines('j1', 'results');
    expect(results.map((r) => [r.id, r.index])).toEqual([
      ['a', 10],
      ['b', 11],
      ['c', 12],
    ]);
    expect(results[0]).toEqual({ id: 'a', index: 10, embedding: [11, 104, 0.1, -0.33333334] });
    expect(Float32Array.from(results[0]!.embedding as number[])).toEqual(fakeEmbedding('hello world'));
    expect(results[1]).toEqual({ id: 'b', index: 11, error: { code: 'TEXT_TOO_LONG', message: 'too long' } });
    expect(results[2]!.truncated).toBe(true);
    const stored = await storedShard('j1');
    expect([...stored.lines()]).toEqual(results);
    expect(await renderedLines('j1', 'errors')).toEqual([results[1]]);
    const rows = stored.embeddingRows();
    expect(rows?.length).toBe(3 * FAKE_DIMS * 4);
    expect(rows!.readFloatLE(0)).toBe(11);
    expect(Number.isNaN(rows!.readFloatLE(FAKE_DIMS * 4))).toBe(true);
    expect(stored.header.summary).toEqual(outcome);
    expect(await h.results.readSummary('j1', 0)).toEqual(outcome);

    const job = await h.jobs.get('j1');
    expect(job).toMatchObject({ state: 'completed', succeeded: 2, failed: 1, truncated: 1, tokens: 14, shardsDone: 1 });
    expect(h.pool.loads).toEqual(['embed:fake/model']);
    const metrics = (await h.metrics.render()).body;
    expect(metrics).toContain('shardwise_worker_shards_total{task="embed",model="fake/model",outcome="completed"} 1');
    expect(metrics).toContain('shardwise_worker_items_failed_total{code="TEXT_TOO_LONG"} 1');
    expect(metrics).toContain('shardwise_worker_texts_total{task="embed",model="fake/model"} 3');
    expect(metrics).not.toContain('j1');
  });

  it('writes sentiment lines with label, score and scores, and no embedding rows', async () => {
    await h.jobs.create(jobRecord('s1', { task: 'sentiment', dimensions: null, total: 1 }));
    const payload = await h.shard('s1', { task: 'sentiment' }, [{ id: 'x', text: 'good stuff' }]);
    await h.processor.process(fakeJob(payload));
    expect(await renderedLines('s1', 'results')).toEqual([{ id: 'x', index: 0, label: 'POSITIVE', score: 0.9, scores: { POSITIVE: 0.9, NEGATIVE: 0.1 } }]);
    const stored = await storedShard('s1');
    expect(stored.embeddingRows()).toBeNull();
    expect(stored.renderNdjson('errors').length).toBe(0);
    expect(await storedKeys('s1')).toEqual([shardResultKey('s1', 0)]);
  });

  it('counts a shard processed twice once and keeps one copy', async () => {
    await h.jobs.create(jobRecord('j2', { shardsTotal: 2, total: 6 }));
    const payload = await h.shard('j2');
    const first = await h.processor.process(fakeJob(payload));
    const before = await h.objects.read(shardResultKey('j2', 0));
    const second = await h.processor.process(fakeJob(payload));

    expect(second).toEqual(first);
    expect(h.pool.encodes).toBe(1); // the second run counted the stored copy, it did not recompute
    expect(await h.objects.read(shardResultKey('j2', 0))).toEqual(before);
    expect(await storedKeys('j2')).toEqual([shardResultKey('j2', 0)]);
    expect(await h.jobs.get('j2')).toMatchObject({ state: 'running', succeeded: 2, failed: 1, shardsDone: 1 });
  });

  it('counts a shard whose result was written by a run that died before counting', async () => {
    await h.jobs.create(jobRecord('j3'));
    const { object, summary } = await writeStoredCopy('j3', 10);
    expect(await h.processor.process(fakeJob(await h.shard('j3')))).toEqual(summary);
    expect(h.pool.encodes).toBe(0);
    expect(await h.objects.read(shardResultKey('j3', 0))).toEqual(object);
    expect(await h.jobs.get('j3')).toMatchObject({ state: 'completed', succeeded: 3, failed: 0, tokens: 30 });
    // No model loaded here, so the model label is "other" (ids become labels only once served).
    expect((await h.metrics.render()).body).toContain('shardwise_worker_shards_total{task="embed",model="other",outcome="recovered"} 1');
  });

  it('counts the copy of a run that wrote the shard first while this one computed it', async () => {
    await h.jobs.create(jobRecord('j9'));
    const held = holdPool();
    const running = h.processor.process(fakeJob(await h.shard('j9')));
    await held.blocked;
    const { object, summary } = await writeStoredCopy('j9', 7);
    held.release();

    expect(await running).toEqual(summary);
    expect(await h.objects.read(shardResultKey('j9', 0))).toEqual(object);
    expect(await h.jobs.get('j9')).toMatchObject({ state: 'completed', succeeded: 3, failed: 0, tokens: 21, shardsDone: 1 });
  });

  it("bills a shard's succeeded texts and their tokens to its tenant once: ledger, job and usage counters, whatever the retries", async () => {
    const from = usageDay(Date.now());
    await h.jobs.create(jobRecord('u1', { tenant: 'acme', shardsTotal: 2, total: 6 }));
    const payload = await h.shard('u1', { tenant: 'acme' });
    await h.processor.process(fakeJob(payload));
    // Delivered again (a stalled lock), then closed by the failure service after a last failed attempt.
    await h.processor.process(fakeJob(payload));
    await h.failures.closeFailedShard(payload, 'out of attempts');
    expect(h.pool.encodes).toBe(1);
    // A copy written by a run that died before counting it, counted by the next run: billed once, too.
    await h.jobs.create(jobRecord('u2', { tenant: 'acme' }));
    await writeStoredCopy('u2', 10);
    await h.processor.process(fakeJob(await h.shard('u2', { tenant: 'acme' })));

    const ledger = new UsageLedger(h.redis.client, h.env.REDIS_PREFIX);
    const rows = await ledger.read({ from, to: usageDay(Date.now()) });
    // Item b failed (TEXT_TOO_LONG, 5 tokens): not billed; a (4) and c (5, truncated) are.
    const billed = rows.reduce((sum, row) => ({ texts: sum.texts + row.texts, tokens: sum.tokens + row.tokens }), { texts: 0, tokens: 0 });
    expect(new Set(rows.map((row) => `${row.tenant} ${row.model}`))).toEqual(new Set(['acme fake/model']));
    expect(billed).toEqual({ texts: 2 + 3, tokens: 9 + 30 });
    expect(await h.jobs.get('u1')).toMatchObject({ succeeded: 2, tokens: 14, usageTokens: 9 });
    expect(await h.jobs.get('u2')).toMatchObject({ succeeded: 3, usageTokens: 30 });
    const metrics = (await h.metrics.render()).body;
    expect(metrics).toContain('shardwise_usage_texts_total{tenant="acme",model="fake/model"} 5');
    expect(metrics).toContain('shardwise_usage_tokens_total{tenant="acme",model="fake/model"} 39');
  });

  it('skips a shard of a cancelled job without work', async () => {
    await h.jobs.create(jobRecord('j4'));
    await h.jobs.cancel('j4');
    expect(await h.processor.process(fakeJob(await h.shard('j4')))).toBeNull();
    expect(h.pool.encodes).toBe(0);
    expect(await h.results.writtenShards('j4')).toEqual([]);
    expect(await h.jobs.get('j4')).toMatchObject({ state: 'cancelled', shardsDone: 0 });
  });

  it('drops a shard whose job no longer exists', async () => {
    expect(await h.processor.process(fakeJob(await h.shard('gone')))).toBeNull();
    expect(h.pool.encodes).toBe(0);
    expect(await h.results.writtenShards('gone')).toEqual([]);
  });

  it('aborts a running shard when a cancel for its job is published', async () => {
    await h.jobs.create(jobRecord('j5'));
    const held = holdPool();
    const running = h.processor.process(fakeJob(await h.shard('j5')));
    await held.blocked;
    await h.jobs.cancel('j5');
    await h.redis.client.publish(`${h.env.REDIS_PREFIX}:cancel`, 'j5');
    expect(await running).toBeNull();
    held.release();
    expect(await h.results.writtenShards('j5')).toEqual([]);
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
    await expect(h.processor.process(fakeJob(await h.shard('j6')))).rejects.toThrow('thread crashed');
    expect(await h.results.writtenShards('j6')).toEqual([]);
    expect(await h.jobs.get('j6')).toMatchObject({ state: 'running', shardsDone: 0 });
  });

  it('makes permanent model errors unrecoverable', async () => {
    await h.jobs.create(jobRecord('j7'));
    h.pool.failWith = Object.assign(new Error('unknown model "nope"'), { name: 'UnknownModelError' });
    await expect(h.processor.process(fakeJob(await h.shard('j7')))).rejects.toBeInstanceOf(UnrecoverableError);
  });

  it.each([
    ['replaced', (objects: ObjectStore, key: string) => objects.put(key, Buffer.from('{"id":"a","text":"other"}\n{"id":"b","text":"texts"}\n{"id":"c","text":"now"}\n'))],
    ['deleted', (objects: ObjectStore, key: string) => objects.delete(key)],
  ])('fails a shard whose input object was %s after it was queued, naming the object', async (how, change) => {
    await h.jobs.create(jobRecord('j8'));
    const payload = await h.shard('j8');
    await change(h.objects, payload.input.key);

    const error = await h.processor.process(fakeJob(payload)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(UnrecoverableError);
    expect((error as Error).message).toContain(payload.input.key);
    expect((error as Error).message).toContain(how);
    expect(h.pool.encodes).toBe(0);
    expect(await h.results.writtenShards('j8')).toEqual([]);
  });

  it('retries a shard whose input read failed for a moment, and the next attempt succeeds', async () => {
    await h.jobs.create(jobRecord('r1'));
    const { processor, failures } = servicesOver(new FaultyObjectStore(h.objects, { failReads: 1 }));
    const payload = await h.shard('r1');

    const error = await processor.process(fakeJob(payload, 0)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(Error);
    expect(error).not.toBeInstanceOf(UnrecoverableError);
    expect((error as Error).message).toMatch(/EIO/);
    await failures.onFailedAttempt(fakeJob(payload, 1, 3), error as Error);
    expect(await h.results.writtenShards('r1')).toEqual([]);
    expect(await h.jobs.get('r1')).toMatchObject({ state: 'running', shardsDone: 0 });

    expect(await processor.process(fakeJob(payload, 1))).toEqual({ succeeded: 2, failed: 1, truncated: 1, tokens: 14 });
    expect((await renderedLines('r1', 'results')).map((r) => r.id)).toEqual(['a', 'b', 'c']);
    expect(await h.jobs.get('r1')).toMatchObject({ state: 'completed', succeeded: 2, failed: 1, shardsDone: 1, shardsFailed: 0 });
  });

  it('reads only its items from an openai-batch input whose requests are split between shards', async () => {
    const request = (customId: string, input: string | string[]) =>
      `${JSON.stringify({ custom_id: customId, method: 'POST', url: '/v1/embeddings', body: { model: 'm', input } })}\n`;
    const lines = [request('r1', ['x', 'y', 'z']), request('r2', 'w'), request('r3', ['u', 'v'])];
    const key = fileKey('file-batch1');
    await h.objects.put(key, Buffer.from(lines.join('')));
    const version = (await h.objects.stat(key))!.version;
    const lineStart = (n: number) => Buffer.byteLength(lines.slice(0, n).join(''));
    const shard = (index: number, start: number, count: number, first: number, last: number, skip: number): ShardPayload => ({
      v: 2,
      jobId: 'b1',
      shard: index,
      start,
      count,
      task: 'embed',
      modelId: 'fake/model',
      options: {},
      input: { key, version, format: 'openai-batch', start: lineStart(first), end: lineStart(last + 1), skip },
    });
    // x y | z w u | v: the first and last shard boundaries fall inside requests r1 and r3.
    const shards = [shard(0, 0, 2, 0, 0, 0), shard(1, 2, 3, 0, 2, 2), shard(2, 5, 1, 2, 2, 1)];
    await h.jobs.create(jobRecord('b1', { total: 6, shardsTotal: 3 }));

    const texts = ['x', 'y', 'z', 'w', 'u', 'v'];
    const ids = [itemId('r1', 0), itemId('r1', 1), itemId('r1', 2), itemId('r2', 0), itemId('r3', 0), itemId('r3', 1)];
    expect(ids).toEqual(['r1', 'r1\u00001', 'r1\u00002', 'r2', 'r3', 'r3\u00001']);
    for (const payload of shards) {
      expect(await h.processor.process(fakeJob(payload))).toMatchObject({ succeeded: payload.count, failed: 0 });
      const results = await renderedLines('b1', 'results', payload.shard);
      const mine = (all: string[]) => all.slice(payload.start, payload.start + payload.count);
      expect(results.map((r) => r.id)).toEqual(mine(ids));
      expect(results.map((r) => r.index)).toEqual(mine(ids).map((_, i) => payload.start + i));
      // The fake embedding holds the text's first character code: the texts fed to the model.
      expect(results.map((r) => String.fromCharCode((r.embedding as number[])[1]!))).toEqual(mine(texts));
    }
    expect(await h.jobs.get('b1')).toMatchObject({ state: 'completed', succeeded: 6, failed: 0, shardsDone: 3 });
  });
});

describe('ShardFailureService', () => {
  it('only logs a failed attempt that will be retried', async () => {
    await h.jobs.create(jobRecord('f1'));
    await h.failures.onFailedAttempt(fakeJob(await h.shard('f1'), 1, 3), new Error('boom'));
    expect(await h.results.writtenShards('f1')).toEqual([]);
    expect(await h.jobs.get('f1')).toMatchObject({ shardsDone: 0 });
  });

  it('on the last attempt writes SHARD_FAILED lines and fails the shard', async () => {
    await h.jobs.create(jobRecord('f2'));
    await h.failures.onFailedAttempt(fakeJob(await h.shard('f2', { start: 3 }), 3, 3), new Error('thread crashed'));
    const results = await renderedLines('f2', 'results');
    expect(results).toEqual(['a', 'b', 'c'].map((id, i) => ({ id, index: 3 + i, error: { code: 'SHARD_FAILED', message: 'thread crashed' } })));
    expect(await renderedLines('f2', 'errors')).toEqual(results);
    const rows = (await storedShard('f2')).embeddingRows();
    expect(rows?.length).toBe(3 * FAKE_DIMS * 4);
    expect(new Float32Array(rows!.buffer, rows!.byteOffset, 3 * FAKE_DIMS).every(Number.isNaN)).toBe(true);
    expect(await h.jobs.get('f2')).toMatchObject({ state: 'failed', failed: 3, shardsDone: 1, shardsFailed: 1, error: 'thread crashed' });
    expect((await h.metrics.render()).body).toContain('shardwise_worker_items_failed_total{code="SHARD_FAILED"} 3');
  });

  it('treats an unrecoverable error as final before the attempts run out', async () => {
    await h.jobs.create(jobRecord('f3'));
    await h.failures.onFailedAttempt(fakeJob(await h.shard('f3'), 1, 3), new UnrecoverableError('job stalled more than allowable limit'));
    expect(await h.jobs.get('f3')).toMatchObject({ state: 'failed', shardsFailed: 1 });
  });

  it('writes error lines without ids when the input of the failed shard cannot be read', async () => {
    await h.jobs.create(jobRecord('f7'));
    const payload = await h.shard('f7', { start: 5 });
    await h.objects.delete(payload.input.key);
    const error = await h.processor.process(fakeJob(payload, 0)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(UnrecoverableError);
    await h.failures.onFailedAttempt(fakeJob(payload, 1, 3), error as Error);

    const failed = { code: 'SHARD_FAILED', message: (error as Error).message };
    expect(await renderedLines('f7', 'results')).toEqual([5, 6, 7].map((index) => ({ id: null, index, error: failed })));
    expect((await storedShard('f7')).renderNdjson('errors').toString('utf8').split('\n')[0]).toMatch(/^\{"id":null,"index":5,/);
    expect(await h.jobs.get('f7')).toMatchObject({ state: 'failed', failed: 3, shardsDone: 1, shardsFailed: 1 });
  });

  it('still fails the shard when the failure result cannot be written', async () => {
    await h.jobs.create(jobRecord('f4'));
    const payload = await h.shard('f4');
    // A file where the job's results folder belongs: no write under it succeeds, even for root (as tests in containers run).
    await mkdir(join(h.env.RESULTS_DIR, 'jobs', 'f4'), { recursive: true });
    await writeFile(join(h.env.RESULTS_DIR, 'jobs', 'f4', 'results'), 'not a folder');
    await h.failures.onFailedAttempt(fakeJob(payload, 3, 3), new Error('disk gone'));
    expect(await h.results.readShard('f4', 0)).toBeNull();
    expect(await h.jobs.get('f4')).toMatchObject({ state: 'failed', failed: 3, shardsDone: 1 });
  });

  it('counts an already written copy instead of failing it', async () => {
    await h.jobs.create(jobRecord('f5'));
    const { object } = await writeStoredCopy('f5', 4);
    await h.failures.onFailedAttempt(fakeJob(await h.shard('f5'), 3, 3), new Error('redis blip after writing'));
    expect(await h.objects.read(shardResultKey('f5', 0))).toEqual(object);
    expect(await h.jobs.get('f5')).toMatchObject({ state: 'completed', succeeded: 3, failed: 0, tokens: 12, shardsFailed: 0 });
  });

  it('closes the shard of an unparsable payload when its identity is readable', async () => {
    await h.jobs.create(jobRecord('f6', { total: 2 }));
    // A payload of another version, queued by an API of another deploy; its count is all that is learned.
    const payload = { ...(await h.shard('f6')), v: 3, count: 2 };
    await h.failures.onFailedAttempt(fakeJob(payload, 1, 3), new UnrecoverableError('invalid shard payload'));
    expect(await h.jobs.get('f6')).toMatchObject({ state: 'failed', failed: 2, shardsDone: 1 });
    expect(await h.results.writtenShards('f6')).toEqual([]);
  });

  it('fails the items of a v1 shard (inline texts, queued before an upgrade) instead of losing them', async () => {
    await h.jobs.create(jobRecord('f7', { total: 3 }));
    const v1 = {
      v: 1,
      jobId: 'f7',
      shard: 0,
      start: 0,
      task: 'embed',
      modelId: 'fake/model',
      options: {},
      items: [
        { id: 'a', text: 'x' },
        { id: 'b', text: 'y' },
        { id: 'c', text: 'z' },
      ],
    };
    const error = await h.processor.process(fakeJob(v1)).catch((e: Error) => e);
    expect(error).toBeInstanceOf(UnrecoverableError);
    await h.failures.onFailedAttempt(fakeJob(v1, 1, 3), error as Error);
    expect(await h.jobs.get('f7')).toMatchObject({ state: 'failed', failed: 3, shardsDone: 1 });
  });
});
