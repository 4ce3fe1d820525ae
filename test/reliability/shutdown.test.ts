import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { syntheticCorpus } from '../../tools/synthetic-corpus.js';
import { finished, MINILM_EMBED, MODEL_DIR, postNdjson, resultsOf, sleep, Stack, summary, tally, waitFor } from '../support/stack.js';

/**
 * SIGTERM as an orchestrator sends it: an idle API or worker exits within 5 s whatever Redis is
 * doing (here: stopped, so every Redis call would wait for a reconnect), and a worker holding a
 * shard past SHUTDOWN_GRACE_MS gives it back to the queue, where another worker finishes it once.
 */
const EXIT_WITHIN_MS = 5000;

async function timedStop(app: { stop(signal?: NodeJS.Signals): Promise<number | null> }): Promise<{ code: number | null; ms: number }> {
  const started = Date.now();
  const code = await app.stop('SIGTERM');
  return { code, ms: Date.now() - started };
}

describe('shutdown on SIGTERM', () => {
  let stack: Stack | undefined;

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'minilm', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
  });

  afterEach(async () => {
    await stack?.stop();
    stack = undefined;
  });

  it('an idle API and an idle worker exit within 5 s of SIGTERM while Redis is stopped', async () => {
    stack = await Stack.start();
    const api = await stack.startApi();
    const worker = await stack.startWorker();
    await stack.redis.stop();
    // Long enough for the reconnect backoff to grow (ioredis retries every 5 s at most).
    await sleep(6000);

    const [apiStop, workerStop] = await Promise.all([timedStop(api), timedStop(worker)]);
    console.log(`[reliability] SIGTERM with Redis stopped: API exited ${apiStop.code} in ${apiStop.ms} ms, worker ${workerStop.code} in ${workerStop.ms} ms`);
    expect(apiStop.code).not.toBeNull();
    expect(workerStop.code).not.toBeNull();
    expect(apiStop.ms).toBeLessThan(EXIT_WITHIN_MS);
    expect(workerStop.ms).toBeLessThan(EXIT_WITHIN_MS);
  });

  it('a worker still holding a shard after SHUTDOWN_GRACE_MS gives it back; another worker finishes the job, every input once', async () => {
    stack = await Stack.start();
    const base = (await stack.startApi({ SHARD_MAX_TEXTS: '16' })).baseUrl;
    // Its reads of job inputs take 4 s, so SIGTERM lands while it holds a shard it cannot finish within the grace period.
    const slow = await stack.startWorker({
      WORKER_CONCURRENCY: '1',
      PRELOAD_MODELS: MINILM_EMBED,
      SHUTDOWN_GRACE_MS: '500',
      SHARDWISE_FAULT_STORE_READ_DELAY_MS: '4000',
      SHARDWISE_FAULT_STORE_KEYS: '/input\\.ndjson$',
    });
    const items = [...syntheticCorpus(4 * 16, { seed: 7, paragraphShare: 0.05, overLimitShare: 0, emptyShare: 0 })];
    const submitted = await postNdjson(base, { task: 'embed', model: MINILM_EMBED }, items);
    expect(submitted.status).toBe(202);
    const id = submitted.body.id as string;
    const held = await activeShards(stack);
    await sleep(200);

    const stop = await timedStop(slow);
    console.log(`[reliability] SIGTERM past SHUTDOWN_GRACE_MS=500: exited ${stop.code} in ${stop.ms} ms, holding ${held.join(',')}`);
    expect(stop.code).toBe(0);
    expect(stop.ms).toBeLessThan(EXIT_WITHIN_MS);
    expect(slow.output()).toContain('given back to the queue');
    // Back in the queue at once (not after its lock expired), with no attempt spent.
    const queue = stack.queue();
    try {
      const shard = await queue.getJob(held[0] as string);
      expect(['waiting', 'prioritized']).toContain(await shard?.getState());
      expect(shard?.attemptsMade).toBe(0);
    } finally {
      await queue.close();
    }

    await stack.startWorker({ WORKER_CONCURRENCY: '1', PRELOAD_MODELS: MINILM_EMBED });
    const job = await waitFor(base, id, finished, { timeoutMs: 120_000 });
    expect(job.state).toBe('completed');
    const t = tally(items, await resultsOf(base, id));
    expect(summary(t)).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: items.length, failed: 0 });
  });
});

/** Ids of the shard jobs held by a worker, once there is one. */
async function activeShards(stack: Stack): Promise<string[]> {
  const deadline = Date.now() + 30_000;
  const queue = stack.queue();
  try {
    for (;;) {
      const active = (await queue.getJobs(['active'])).map((job) => job.id as string);
      if (active.length > 0) return active;
      if (Date.now() > deadline) throw new Error('no shard became active');
      await sleep(50);
    }
  } finally {
    await queue.close();
  }
}
