import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobStore, signWebhook, verifyWebhook } from '#shared';
import { EMBED_MODEL, sleep, startStack, until, type Stack } from '../events/stack.js';
import { postNdjson } from '../support/stack.js';

const SECRET = 'whsec_test_0123456789';

interface Call {
  path: string;
  headers: IncomingHttpHeaders;
  body: string;
  status: number;
  at: number;
}

/** A webhook receiver on 127.0.0.1: `/flaky/*` answers 500 to its first two calls, everything else 200. */
class Receiver {
  calls: Call[] = [];
  private server: Server | undefined;
  base = '';

  async start(): Promise<void> {
    const seen = new Map<string, number>();
    this.server = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const path = req.url ?? '';
        const n = (seen.get(path) ?? 0) + 1;
        seen.set(path, n);
        const status = path.startsWith('/flaky') && n <= 2 ? 500 : 200;
        this.calls.push({ path, headers: req.headers, body: Buffer.concat(parts).toString('utf8'), status, at: Date.now() });
        res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : 'try again');
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, '127.0.0.1', r));
    this.base = `http://127.0.0.1:${(this.server!.address() as AddressInfo).port}`;
  }

  to(path: string): Call[] {
    return this.calls.filter((c) => c.path === path);
  }

  async stop(): Promise<void> {
    await new Promise((r) => this.server?.close(r));
  }
}

describe('job webhooks', () => {
  let stack: Stack;
  let receiver: Receiver;
  let base: string;
  const state = async (id: string) => ((await (await fetch(`${base}/v1/jobs/${id}`)).json()) as { state: string }).state;

  beforeAll(async () => {
    receiver = new Receiver();
    await receiver.start();
    stack = await startStack({ worker: { WEBHOOK_SECRET: SECRET, WEBHOOK_BACKOFF_MS: '100', WEBHOOK_ATTEMPTS: '5', WEBHOOK_SWEEP_MS: '300' }, api: { SHARD_MAX_TEXTS: '5' } });
    base = stack.api.baseUrl;
  });

  afterAll(async () => {
    await stack?.stop();
    await receiver?.stop();
  });

  it('retries a failing receiver with backoff; the third attempt arrives signed, once', async () => {
    const url = `${receiver.base}/flaky/completed?token=abc`;
    const response = await fetch(`${base}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'embed', model: EMBED_MODEL, inputs: ['one', 'two', 'three'], callback_url: url }),
    });
    expect(response.status).toBe(202);
    const job = (await response.json()) as { id: string; callback_url: string };
    expect(job.callback_url).toBe(url);
    const path = '/flaky/completed?token=abc';
    await until('three webhook calls', () => receiver.to(path).length >= 3, 30_000);
    await sleep(800); // room for a wrong fourth call
    const calls = receiver.to(path);
    expect(calls.map((c) => c.status)).toEqual([500, 500, 200]);
    // Exponential backoff from WEBHOOK_BACKOFF_MS=100: ~100 ms, then ~200 ms.
    expect(calls[1]!.at - calls[0]!.at).toBeGreaterThanOrEqual(90);
    expect(calls[2]!.at - calls[1]!.at).toBeGreaterThanOrEqual(180);

    const last = calls[2]!;
    expect(last.headers['content-type']).toBe('application/json');
    expect(last.headers['x-shardwise-event']).toBe('job.completed');
    expect(last.headers['x-shardwise-attempt']).toBe('3');
    expect(verifyWebhook(SECRET, last.body, last.headers['x-shardwise-signature'] as string)).toBe(true);
    expect(verifyWebhook('another secret', last.body, last.headers['x-shardwise-signature'] as string)).toBe(false);
    expect(verifyWebhook(SECRET, last.body.replace('completed', 'failed'), last.headers['x-shardwise-signature'] as string)).toBe(false);
    // Every attempt is the same delivery with the same body.
    expect(new Set(calls.map((c) => c.headers['x-shardwise-delivery'])).size).toBe(1);
    expect(new Set(calls.map((c) => c.body)).size).toBe(1);
    const body = JSON.parse(last.body) as Record<string, any>;
    expect(body).toMatchObject({ id: job.id, object: 'job', state: 'completed', counts: { total: 3, succeeded: 3, failed: 0 }, callback_url: url });
    expect(body.finished_at).toBeTruthy();
  });

  it('calls the webhook once when a job is cancelled (callback_url as a query parameter)', async () => {
    const path = '/cancelled';
    const items = Array.from({ length: 3000 }, (_, i) => ({ text: `a text to embed, number ${i}` }));
    const answer = await postNdjson(base, { task: 'embed', model: EMBED_MODEL, callback_url: `${receiver.base}${path}` }, items);
    expect(answer.status, JSON.stringify(answer.body)).toBe(202);
    const id = answer.body.id as string;
    const cancel = await fetch(`${base}/v1/jobs/${id}/cancel`, { method: 'POST' });
    expect(cancel.status).toBe(200);
    // A second cancel is a no-op and must not send a second webhook.
    expect((await fetch(`${base}/v1/jobs/${id}/cancel`, { method: 'POST' })).status).toBe(200);
    await until('the cancel webhook', () => receiver.to(path).length >= 1, 15_000);
    await sleep(800);
    const calls = receiver.to(path);
    expect(calls).toHaveLength(1);
    expect(calls[0]!.headers['x-shardwise-event']).toBe('job.cancelled');
    expect(verifyWebhook(SECRET, calls[0]!.body, calls[0]!.headers['x-shardwise-signature'] as string)).toBe(true);
    expect(JSON.parse(calls[0]!.body)).toMatchObject({ id, state: 'cancelled' });
    expect(await state(id)).toBe('cancelled');
  });

  it('calls the webhook when a job fails', async () => {
    const path = '/failed';
    const long = 'incomprehensibilities '.repeat(200);
    const answer = await postNdjson(base, { task: 'embed', model: EMBED_MODEL, truncate: 'false', callback_url: `${receiver.base}${path}` }, [{ text: long }, { text: long }]);
    expect(answer.status).toBe(202);
    await until('the failure webhook', () => receiver.to(path).length >= 1, 30_000);
    const call = receiver.to(path)[0]!;
    expect(call.headers['x-shardwise-event']).toBe('job.failed');
    expect(JSON.parse(call.body)).toMatchObject({ id: answer.body.id, state: 'failed', counts: { total: 2, succeeded: 0, failed: 2 } });
  });

  it('queues the webhook of a job whose finishing process died before queueing it (outbox sweep)', async () => {
    const redis = new Redis(stack.redis.url, { maxRetriesPerRequest: 3 });
    const jobs = new JobStore(redis, stack.prefix);
    const outbox = jobs.keys.webhookOutbox();
    try {
      // A normal job: its webhook is queued by the worker that finished it, which empties its outbox entry.
      const seed = await postNdjson(base, { task: 'embed', model: EMBED_MODEL, callback_url: `${receiver.base}/seed` }, [{ text: 'seed' }]);
      const seedId = seed.body.id as string;
      await until('the seed webhook', () => receiver.to('/seed').length >= 1, 30_000);
      await until('the seed outbox entry to go', async () => (await redis.zscore(outbox, seedId)) === null, 5_000);

      // The same job shape, counted to its end by "a worker" that dies before queueing the webhook:
      // only the Lua step ran, as in a kill -9 between completeShard and the queue add.
      const record = (await jobs.get(seedId))!;
      const id = `${seedId}orphan`;
      await jobs.create({ ...record, id, state: 'running', succeeded: 0, failed: 0, tokens: 0, shardsDone: 0, finishedAt: null, callbackUrl: `${receiver.base}/orphan` });
      expect(await jobs.completeShard(id, 0, { succeeded: 1, failed: 0, truncated: 0, tokens: 3 })).toBe('job-finished');
      expect(await redis.zscore(outbox, id)).not.toBeNull();

      await until('the swept webhook', () => receiver.to('/orphan').length >= 1, 15_000);
      await sleep(800); // room for a duplicate from a second sweep
      const calls = receiver.to('/orphan');
      expect(calls).toHaveLength(1);
      expect(calls[0]!.headers['x-shardwise-event']).toBe('job.completed');
      expect(verifyWebhook(SECRET, calls[0]!.body, calls[0]!.headers['x-shardwise-signature'] as string)).toBe(true);
      expect(JSON.parse(calls[0]!.body)).toMatchObject({ id, state: 'completed', counts: { total: record.total, succeeded: 1 } });
      expect(await redis.zscore(outbox, id)).toBeNull();
      // Jobs without a callback_url never enter the outbox.
      const quiet = await postNdjson(base, { task: 'embed', model: EMBED_MODEL }, [{ text: 'no hook' }]);
      await until('the quiet job to complete', async () => (await state(quiet.body.id as string)) === 'completed', 30_000);
      expect(await redis.zcard(outbox)).toBe(0);
    } finally {
      redis.disconnect();
    }
  });

  it('sends nothing for jobs without a callback_url', async () => {
    const before = receiver.calls.length;
    const answer = await postNdjson(base, { task: 'embed', model: EMBED_MODEL }, [{ text: 'quiet' }]);
    await until('the job to complete', async () => (await state(answer.body.id as string)) === 'completed', 30_000);
    await sleep(300);
    expect(receiver.calls.length).toBe(before);
  });

  it('refuses a callback_url that is not an http(s) URL with INVALID_OPTION', async () => {
    for (const callback of ['ftp://example.com/hook', 'not a url', '/relative/path', 42]) {
      const response = await fetch(`${base}/v1/jobs`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'embed', inputs: ['x'], callback_url: callback }),
      });
      expect(response.status, String(callback)).toBe(400);
      expect(await response.json()).toMatchObject({ error: { code: 'INVALID_OPTION', field: 'callback_url' } });
    }
    const ndjson = await postNdjson(base, { task: 'embed', callback_url: 'javascript:alert(1)' }, [{ text: 'x' }]);
    expect(ndjson.status).toBe(400);
    expect(ndjson.body).toMatchObject({ error: { code: 'INVALID_OPTION', field: 'callback_url' } });
  });

  it('signs "t.body" with HMAC-SHA256 and refuses stale timestamps', () => {
    const body = '{"id":"job_x","state":"completed"}';
    const now = Date.now();
    const header = signWebhook(SECRET, body, Math.floor(now / 1000));
    expect(header).toMatch(/^t=\d+,v1=[0-9a-f]{64}$/);
    expect(verifyWebhook(SECRET, body, header, 300, now)).toBe(true);
    expect(verifyWebhook(SECRET, body, header, 300, now + 600_000)).toBe(false);
    expect(verifyWebhook(SECRET, body, undefined)).toBe(false);
  });
});
