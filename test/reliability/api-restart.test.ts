import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AppProcess } from '../support/app-process.js';
import { freePort, postJob, postNdjson, request, scanKeys, sleep, Stack, TINY_EMBED } from '../support/stack.js';

/**
 * The API dies (kill -9) or is stopped (SIGTERM) in the middle of a streamed upload. The client
 * must get an error (or, for a graceful stop that lets the upload finish, the whole job), and no
 * half-accepted job may remain: no job record, no queued shard, nothing in Redis; in the object
 * store only the partial write of the input, which the store janitor removes once it is older than
 * ORPHAN_GRACE_MS. No worker runs here, so anything that was enqueued would still be in the queue.
 */
const SHARD_TEXTS = 8;
const GRACE_MS = 1500;

describe('API restart mid-upload', () => {
  let stack: Stack;
  let api: AppProcess;
  let port: number;

  beforeAll(async () => {
    stack = await Stack.start({ env: { SHARD_MAX_TEXTS: String(SHARD_TEXTS) } });
    port = await freePort();
    api = await stack.startApi(JANITOR, port);
  });

  /** A janitor that sweeps every 300 ms and takes anything untouched for GRACE_MS as left behind. */
  const JANITOR = { STORE_JANITOR_MS: '300', ORPHAN_GRACE_MS: String(GRACE_MS) };

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

  /** Sizes of the partial writes in the store (an upload's input object being written). */
  async function partialWrites(): Promise<number[]> {
    const dir = join(stack.resultsDir, '.partial');
    const names = await readdir(dir).catch(() => [] as string[]);
    return Promise.all(names.map(async (name) => (await stat(join(dir, name)).catch(() => ({ size: 0 }))).size));
  }

  /** Objects of jobs in the store (inputs, manifests, results). */
  async function jobObjects(): Promise<string[]> {
    return (await readdir(join(stack.resultsDir, 'jobs')).catch(() => [] as string[])).sort();
  }

  async function waitForUploadBytes(min: number): Promise<void> {
    const deadline = Date.now() + 15_000;
    while (!(await partialWrites()).some((size) => size >= min)) {
      if (Date.now() > deadline) throw new Error('the upload was not being stored');
      await sleep(20);
    }
  }

  it('kill -9 mid-upload: the client gets an error; no job, no queued shard, and the janitor removes the partial input', async () => {
    // The janitor's lock comes and goes on its own schedule: not part of what an upload may leave.
    const keys = async () => (await scanKeys(stack.client(), `${stack.prefix}:*`)).filter((key) => !key.endsWith(':lock:store-janitor')).sort();
    const keysBefore = await keys();
    const upload = slowUpload();
    const reply = postNdjson(api.baseUrl, { task: 'embed', model: TINY_EMBED }, upload.items, { chunkBytes: 1 }).then(
      (r) => ({ ok: true as const, status: r.status }),
      (error: Error) => ({ ok: false as const, error }),
    );
    await waitForUploadBytes(200);
    expect(await api.stop('SIGKILL')).toBeNull();
    const outcome = await reply;
    upload.stop();
    expect(outcome.ok, JSON.stringify(outcome)).toBe(false);

    const redis = stack.client();
    expect(await scanKeys(redis, `${stack.prefix}:job:*`)).toEqual([]);
    expect(await redis.zcard(`${stack.prefix}:jobs:default`)).toBe(0);
    expect(await queued()).toBe(0);
    // Nothing of the upload is in Redis: the texts never go there, and the job was never created.
    expect(await keys()).toEqual(keysBefore);
    const left = await partialWrites();
    expect(left.length).toBe(1);
    expect(await jobObjects()).toEqual([]);

    // Back on the same port: nothing of the dead upload is visible, new jobs are taken, and the
    // janitor removes the partial write once it is older than the grace.
    const killedAt = Date.now();
    api = await stack.startApi(JANITOR, port);
    const list = await request<{ total: number }>(api.baseUrl, '/v1/jobs');
    expect(list.body.total).toBe(0);
    const next = await postJob(api.baseUrl, { task: 'embed', model: TINY_EMBED, inputs: ['a', 'b', 'c'] });
    expect(next.status).toBe(202);
    expect(await queued()).toBe(1);
    const deadline = Date.now() + 15_000;
    while ((await partialWrites()).length > 0 && Date.now() < deadline) await sleep(100);
    expect(await partialWrites()).toEqual([]);
    // The accepted job's objects stay.
    expect(await jobObjects()).toEqual([next.body.id]);
    console.log(
      `[reliability] API kill -9 mid-upload: ${upload.sent()} lines sent, ${left[0]} bytes of partial input left, removed by the janitor ${Date.now() - killedAt} ms after the kill (grace ${GRACE_MS} ms); 0 jobs, 0 queued shards, Redis unchanged`,
    );
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
    await waitForUploadBytes(200);
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
      // Refused: its input object is gone too (a graceful stop cleans up; it does not wait for the janitor).
      expect((await jobObjects()).length).toBe(jobsBefore.filter((k) => !k.endsWith(':done')).length);
    }
    console.log(
      `[reliability] API SIGTERM mid-upload: ${outcome.ok ? `answered ${outcome.status}` : `client error (${outcome.error.message})`}; ${upload.sent()} lines; ${jobs.length} new job(s)`,
    );
    api = await stack.startApi(JANITOR, port);
  });
});
