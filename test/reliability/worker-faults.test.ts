import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { syntheticCorpus } from '../../tools/synthetic-corpus.js';
import { FsObjectStore, ResultStore } from '#shared';
import type { AppProcess } from '../support/app-process.js';
import { finished, freePort, MINILM_EMBED, MODEL_DIR, postNdjson, resultsOf, sleep, Stack, summary, tally, waitFor } from '../support/stack.js';

/**
 * Worker faults on MiniLM-sized shards (about a second each on one thread, so there is time to hit
 * one in the middle): kill -9 then a restart of the same worker, kill -9 while a worker reads its
 * shard's range from the object store, SIGTERM (drain), and cancel.
 * Every test ends with the exactly-once tally: each input has one line, result or recorded error.
 */
const SHARD_TEXTS = 16;

function corpus(count: number, seed: number): Array<{ id: string; text: string }> {
  return [...syntheticCorpus(count, { seed, paragraphShare: 0.05, overLimitShare: 0, emptyShare: 0 })].map((item) => ({ ...item, id: `${seed}-${item.id}` }));
}

describe('worker faults: kill -9 and restart, SIGTERM, cancel', () => {
  let stack: Stack;
  let base: string;
  let worker: AppProcess;
  let workerPort: number;
  const workerEnv = { WORKER_CONCURRENCY: '1', PRELOAD_MODELS: MINILM_EMBED, SHARD_LOCK_MS: '2000' };

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'minilm', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    stack = await Stack.start();
    base = (await stack.startApi({ SHARD_MAX_TEXTS: String(SHARD_TEXTS) })).baseUrl;
    workerPort = await freePort();
    worker = await stack.startWorker(workerEnv, workerPort);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  /** Ids of the shard jobs a worker holds now. */
  async function activeShards(): Promise<string[]> {
    const queue = stack.queue();
    try {
      return (await queue.getJobs(['active'])).map((job) => job.id as string);
    } finally {
      await queue.close();
    }
  }

  async function waitForActiveShard(): Promise<string[]> {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const active = await activeShards();
      if (active.length > 0) return active;
      if (Date.now() > deadline) throw new Error('no shard became active');
      await sleep(50);
    }
  }

  /** No shard result may be torn: each decodes whole, with one line per item its summary counts. */
  async function expectWholeShards(jobId: string, items: number): Promise<void> {
    const results = new ResultStore(new FsObjectStore(stack.resultsDir));
    let lines = 0;
    for (const shard of await results.writtenShards(jobId)) {
      const result = await results.readShard(jobId, shard);
      const summary = result!.header.summary;
      const count = result!
        .renderNdjson('results')
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '').length;
      expect(count, `shard ${shard}`).toBe(summary.succeeded + summary.failed);
      lines += count;
    }
    expect(lines).toBe(items);
  }

  it('kill -9 of the worker mid-shard, then a restart of the same worker: every input exactly once', async () => {
    const items = corpus(10 * SHARD_TEXTS, 1);
    const submitted = await postNdjson(base, { task: 'embed', model: MINILM_EMBED }, items);
    expect(submitted.status).toBe(202);
    const id = submitted.body.id as string;

    await waitFor(base, id, (job) => job.shards.done >= 2);
    const held = await waitForActiveShard();
    expect(await worker.stop('SIGKILL')).toBeNull();

    // The same worker comes back (same port and settings); the shard the dead one held is stalled
    // (its lock expires) and runs again.
    worker = await stack.startWorker(workerEnv, workerPort);
    const job = await waitFor(base, id, finished, { timeoutMs: 120_000 });
    expect(job.state).toBe('completed');
    expect(job.counts).toMatchObject({ total: items.length, succeeded: items.length, failed: 0 });
    expect(job.shards).toMatchObject({ total: 10, done: 10, failed: 0 });

    const t = tally(items, await resultsOf(base, id));
    console.log(`[reliability] kill -9 + restart: ${JSON.stringify(summary(t))}, shard held at the kill: ${held.join(',')}`);
    expect(summary(t)).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: items.length, failed: 0 });
    await expectWholeShards(id, items.length);

    const queue = stack.queue();
    const rerun = await queue.getJob(held[0] as string);
    await queue.close();
    expect((rerun?.stalledCounter ?? 0) + (rerun?.attemptsStarted ?? 0)).toBeGreaterThan(1);
  });

  it('kill -9 of a worker while it reads its range from the store: another run reads it again, every input exactly once', async () => {
    // This worker's store reads of job inputs take 4 s, so the kill lands while a range is being read.
    await worker.stop('SIGTERM');
    worker = await stack.startWorker({ ...workerEnv, SHARDWISE_FAULT_STORE_READ_DELAY_MS: '4000', SHARDWISE_FAULT_STORE_KEYS: '/input\\.ndjson$' }, workerPort);
    const items = corpus(4 * SHARD_TEXTS, 4);
    const submitted = await postNdjson(base, { task: 'embed', model: MINILM_EMBED }, items);
    expect(submitted.status).toBe(202);
    const id = submitted.body.id as string;
    const held = await waitForActiveShard();
    await sleep(500);
    const midway = await waitFor(base, id, () => true);
    expect(midway.shards.done).toBe(0);
    expect(await worker.stop('SIGKILL')).toBeNull();

    worker = await stack.startWorker(workerEnv, workerPort);
    const job = await waitFor(base, id, finished, { timeoutMs: 120_000 });
    expect(job.state).toBe('completed');
    const t = tally(items, await resultsOf(base, id));
    console.log(`[reliability] kill -9 mid-read: ${JSON.stringify(summary(t))}, shard held at the kill: ${held.join(',')}`);
    expect(summary(t)).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: items.length, failed: 0 });
    await expectWholeShards(id, items.length);
  });

  it('SIGTERM mid-shard: the worker finishes the shard it holds, exits 0, and loses nothing', async () => {
    const items = corpus(8 * SHARD_TEXTS, 2);
    const submitted = await postNdjson(base, { task: 'embed', model: MINILM_EMBED }, items);
    const id = submitted.body.id as string;
    await waitFor(base, id, (job) => job.shards.done >= 1);
    const held = await waitForActiveShard();

    const started = Date.now();
    expect(await worker.stop('SIGTERM')).toBe(0);
    const drainMs = Date.now() - started;
    // It took no new shard while draining and left none locked: the held one was finished and counted.
    expect(await activeShards()).toEqual([]);
    const queue = stack.queue();
    const shard = await queue.getJob(held[0] as string);
    const state = await shard?.getState();
    await queue.close();
    expect(state).toBe('completed');
    const midway = await waitFor(base, id, () => true);
    expect(midway.shards.done).toBeLessThan(midway.shards.total);
    expect(worker.output()).toContain('waiting for the shards in flight');

    worker = await stack.startWorker(workerEnv, workerPort);
    const job = await waitFor(base, id, finished, { timeoutMs: 120_000 });
    expect(job.state).toBe('completed');
    const t = tally(items, await resultsOf(base, id));
    console.log(`[reliability] SIGTERM drain: ${drainMs} ms; ${JSON.stringify(summary(t))}`);
    expect(summary(t)).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: items.length, failed: 0 });
    await expectWholeShards(id, items.length);
  });

  it('cancel mid-run: the worker stops within seconds, the job is cancelled, written results stay readable', async () => {
    // Paragraph-long texts: a shard takes long enough that one is surely running when the cancel lands.
    const items = [...syntheticCorpus(20 * SHARD_TEXTS, { seed: 3, paragraphShare: 1, overLimitShare: 0, emptyShare: 0 })];
    const submitted = await postNdjson(base, { task: 'embed', model: MINILM_EMBED }, items);
    const id = submitted.body.id as string;
    await waitFor(base, id, (job) => job.shards.done >= 2);
    await waitForActiveShard();

    // Partial results of a running job: only with ?partial=true, and only whole shards.
    const partial = await resultsOf(base, id, { query: '?partial=true' });
    expect(partial.length % SHARD_TEXTS).toBe(0);
    expect(tally(items, partial).duplicated).toEqual([]);

    const cancelledAt = Date.now();
    const cancel = await fetch(`${base}/v1/jobs/${id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    let stoppedAt = 0;
    while (Date.now() - cancelledAt < 20_000) {
      if ((await activeShards()).length === 0) {
        stoppedAt = Date.now();
        break;
      }
      await sleep(20);
    }
    const stopMs = stoppedAt - cancelledAt;
    expect(stoppedAt).toBeGreaterThan(0);
    expect(stopMs).toBeLessThan(3000);

    // Nothing more is written for the job after the stop.
    const job = await waitFor(base, id, () => true);
    expect(job.state).toBe('cancelled');
    await sleep(1500);
    const after = await waitFor(base, id, () => true);
    expect(after.shards.done).toBe(job.shards.done);
    expect(after.state).toBe('cancelled');

    const lines = await resultsOf(base, id);
    const t = tally(items, lines);
    console.log(`[reliability] cancel: worker stopped ${stopMs} ms after the cancel; ${after.shards.done}/${after.shards.total} shards written; ${JSON.stringify(summary(t))}`);
    expect(t.duplicated).toEqual([]);
    expect(t.misplaced).toEqual([]);
    expect(lines.length).toBe(after.counts.succeeded + after.counts.failed);
    expect(lines.length).toBeGreaterThanOrEqual(partial.length);
    expect(lines.length).toBeLessThan(items.length);
    // The worker logged the abort and is still consuming (ready for other jobs).
    expect(worker.output()).toMatch(new RegExp(`job ${id} cancelled: aborting \\d+ running shard`));
    expect((await fetch(`${worker.baseUrl}/readyz`)).status).toBe(200);
  });
});
