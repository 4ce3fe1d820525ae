import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppProcess } from '../support/app-process.js';
import { freePort, postJob, postNdjson, request, scanKeys, sleep, Stack, TINY_EMBED } from '../support/stack.js';

/**
 * The API dies (kill -9) or is stopped (SIGTERM) in the middle of a streamed upload. The client
 * must get an error (or, for a graceful stop that lets the upload finish, the whole job), and no
 * half-accepted job may remain: no job record, no queued shard, and staged keys only with their TTL.
 * No worker runs here, so anything that was enqueued would still be in the queue to be seen.
 */
const STAGING_TTL_SECONDS = 3600;
const SHARD_TEXTS = 8;

describe('API restart mid-upload', () => {
  let stack: Stack;
  let api: AppProcess;
  let port: number;

  beforeAll(async () => {
    stack = await Stack.start({ env: { SHARD_MAX_TEXTS: String(SHARD_TEXTS) } });
    port = await freePort();
    api = await stack.startApi({}, port);
  });

  afterAll(async () => {
    await stack?.stop();
  });

  /** An upload that sends 40 lines at once, then one line every 20 ms until `stop()`; then its body ends. */
  function slowUpload() {
    let stopped = false;
    let sent = 0;
    async function* items() {
      for (let i = 0; i < 100_000 && !stopped; i++) {
        yield { id: `u${i}`, text: `text number ${i}` };
        sent++;
        if (i > 5 * SHARD_TEXTS) await sleep(20);
      }
    }
    return { items: items(), stop: () => (stopped = true), sent: () => sent };
  }

  async function queued(): Promise<number> {
    const queue = stack.queue();
    const counts = await queue.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'waiting-children', 'completed', 'failed');
    await queue.close();
    return Object.values(counts).reduce((a, b) => a + b, 0);
  }

  async function waitForStaged(min: number): Promise<void> {
    const deadline = Date.now() + 15_000;
    while ((await scanKeys(stack.client(), `${stack.prefix}:stage:*:[0-9]*`)).length < min) {
      if (Date.now() > deadline) throw new Error('nothing was staged');
      await sleep(20);
    }
  }

  it('kill -9 mid-upload: the client gets an error; no job, no queued shard, staged keys expire on their own', async () => {
    const upload = slowUpload();
    const reply = postNdjson(api.baseUrl, { task: 'embed', model: TINY_EMBED }, upload.items, { chunkBytes: 1 }).then(
      (r) => ({ ok: true as const, status: r.status }),
      (error: Error) => ({ ok: false as const, error }),
    );
    await waitForStaged(3);
    expect(await api.stop('SIGKILL')).toBeNull();
    const outcome = await reply;
    upload.stop();
    expect(outcome.ok, JSON.stringify(outcome)).toBe(false);

    const redis = stack.client();
    expect(await scanKeys(redis, `${stack.prefix}:job:*`)).toEqual([]);
    expect(await redis.zcard(`${stack.prefix}:jobs:default`)).toBe(0);
    expect(await queued()).toBe(0);
    const staged = await scanKeys(redis, `${stack.prefix}:stage:*`);
    expect(staged.length).toBeGreaterThan(0);
    for (const key of staged) {
      const ttl = await redis.ttl(key);
      expect(ttl, key).toBeGreaterThan(0);
      expect(ttl, key).toBeLessThanOrEqual(STAGING_TTL_SECONDS);
    }
    // Its bytes count against the admission budget only until the same expiry.
    const expiries = (await redis.zrange(`${stack.prefix}:staging:expiry`, 0, '-1', 'WITHSCORES')) as string[];
    expect(expiries).toHaveLength(2);
    expect(Number(expiries[1])).toBeLessThanOrEqual(Date.now() + STAGING_TTL_SECONDS * 1000);
    console.log(`[reliability] API kill -9 mid-upload: ${upload.sent()} lines sent, ${staged.length} staged keys left (TTL <= ${STAGING_TTL_SECONDS} s), 0 jobs, 0 queued shards`);

    // Back on the same port: nothing of the dead upload is visible, and new jobs are taken.
    api = await stack.startApi({}, port);
    const list = await request<{ total: number }>(api.baseUrl, '/v1/jobs');
    expect(list.body.total).toBe(0);
    const next = await postJob(api.baseUrl, { task: 'embed', model: TINY_EMBED, inputs: ['a', 'b', 'c'] });
    expect(next.status).toBe(202);
    expect(await queued()).toBe(1);
  });

  it('SIGTERM mid-upload: the upload is either accepted whole or refused, never half-accepted', async () => {
    const redis = stack.client();
    const jobsBefore = await scanKeys(redis, `${stack.prefix}:job:*`);
    const queuedBefore = await queued();
    const upload = slowUpload();
    const reply = postNdjson(api.baseUrl, { task: 'embed', model: TINY_EMBED }, upload.items, { chunkBytes: 1 }).then(
      (r) => ({ ok: true as const, status: r.status, body: r.body }),
      (error: Error) => ({ ok: false as const, error }),
    );
    await waitForStaged(3);
    const exit = api.stop('SIGTERM');
    // The client finishes its body soon after the signal.
    await sleep(300);
    upload.stop();
    const outcome = await reply;
    expect(await exit).toBe(0);

    const jobs = (await scanKeys(redis, `${stack.prefix}:job:*`)).filter((k) => !jobsBefore.includes(k) && !k.endsWith(':done'));
    if (outcome.ok && outcome.status === 202) {
      // Accepted: then whole, every line in a queued shard.
      expect(jobs).toHaveLength(1);
      const total = Number(await redis.hget(jobs[0] as string, 'total'));
      const shards = Number(await redis.hget(jobs[0] as string, 'shardsTotal'));
      expect(total).toBe(upload.sent());
      expect(await queued()).toBe(queuedBefore + shards);
    } else {
      expect(jobs).toEqual([]);
      expect(await queued()).toBe(queuedBefore);
    }
    console.log(`[reliability] API SIGTERM mid-upload: ${outcome.ok ? `answered ${outcome.status}` : `client error (${outcome.error.message})`}; ${upload.sent()} lines; ${jobs.length} new job(s)`);
    api = await stack.startApi({}, port);
  });
});
