import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readdir } from 'node:fs/promises';
import { FsObjectStore, QueueName, readShardItems, ResultStore, shardJobId, shardPayloadSchema, ShardResultWriter, type InputItem, type ShardPayload } from '#shared';
import { API_ENTRY, startApp, type AppProcess } from '../support/app-process.js';
import { freePort, startRedis, type RedisHandle } from '../support/redis-server.js';

/**
 * Boots the built API (npx tsc -p tsconfig.build.json) against a private redis-server and checks the
 * HTTP contract: what is accepted is stored once in the object store (RESULTS_DIR) and lands in the
 * BullMQ queue as shard references; what is refused leaves Redis and the store untouched. No worker
 * runs here, so every accepted job stays queued.
 */

const PREFIX = 'swtest';
const LIMITS = { SHARD_MAX_TEXTS: 4, SHARD_MAX_BYTES: 1024, MAX_LINE_BYTES: 256, MAX_INPUTS_PER_JOB: 50, MAX_JSON_BODY_BYTES: 4096 };

interface ErrorBody {
  error: { code: string; message: string; line?: number; field?: string };
}
type Json = Record<string, unknown>;

async function writeModel(dir: string, config: Json): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'config.json'), JSON.stringify(config));
  await writeFile(join(dir, 'tokenizer_config.json'), JSON.stringify({ model_max_length: 128 }));
}

describe('API over HTTP (built app, private Redis)', () => {
  let redis: RedisHandle;
  let api: AppProcess;
  let client: Redis;
  let queue: Queue<ShardPayload>;
  let root: string;
  let base: string;

  beforeAll(async () => {
    if (!existsSync(API_ENTRY)) throw new Error(`${API_ENTRY} is missing: run "npx tsc -p tsconfig.build.json" first`);
    root = await mkdtemp(join(tmpdir(), 'sw-api-test-'));
    const modelDir = join(root, 'models');
    await writeModel(join(modelDir, 'acme', 'mini-embed'), { model_type: 'bert', hidden_size: 24, max_position_embeddings: 128, architectures: ['BertModel'] });
    await writeModel(join(modelDir, 'tiny-sst'), {
      model_type: 'distilbert',
      dim: 16,
      max_position_embeddings: 128,
      architectures: ['DistilBertForSequenceClassification'],
      id2label: { 0: 'NEGATIVE', 1: 'POSITIVE' },
    });
    // A model folder next to MODEL_DIR, which no request may reach.
    await writeModel(join(root, 'outside'), { model_type: 'bert', hidden_size: 8, architectures: ['BertModel'] });

    redis = await startRedis();
    const port = await freePort();
    const env = {
      REDIS_URL: redis.url,
      REDIS_PREFIX: PREFIX,
      PORT: String(port),
      MODEL_DIR: modelDir,
      RESULTS_DIR: join(root, 'results'),
      DEFAULT_MODEL_EMBED: 'acme/mini-embed',
      DEFAULT_MODEL_SENTIMENT: 'tiny-sst',
      SHARD_ATTEMPTS: '2',
      ...Object.fromEntries(Object.entries(LIMITS).map(([k, v]) => [k, String(v)])),
    };
    api = await startApp(API_ENTRY, env, port, 60_000);
    base = api.baseUrl;
    client = new Redis(redis.url);
    queue = new Queue<ShardPayload>(QueueName.Shards, { connection: client, prefix: `${PREFIX}:bull` });
  });

  afterAll(async () => {
    await queue?.close();
    await client?.quit();
    const code = await api?.stop();
    await redis?.stop();
    if (root) await rm(root, { recursive: true, force: true });
    // SIGTERM closes the server and Redis and exits 0.
    expect(code).toBe(0);
  });

  const postJson = (body: unknown) => fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

  const postNdjson = (query: Record<string, string>, body: string | Buffer, contentType = 'application/x-ndjson') =>
    fetch(`${base}/v1/jobs?${new URLSearchParams(query)}`, { method: 'POST', headers: { 'content-type': contentType }, body });

  /**
   * Every key in Redis, the queue's waiting list, every object in the store and every partial write:
   * a refused request must leave all of them as they were.
   */
  async function snapshot(): Promise<{ keys: string[]; waiting: string[]; objects: string[]; partial: string[] }> {
    const keys = (await client.keys('*')).sort();
    const waiting = await client.lrange(`${PREFIX}:bull:${QueueName.Shards}:wait`, 0, -1);
    const objects: string[] = [];
    for await (const info of store().list('jobs/')) objects.push(info.key);
    const partial = await readdir(join(root, 'results', '.partial')).catch(() => []);
    return { keys, waiting, objects, partial };
  }

  const store = () => new FsObjectStore(join(root, 'results'));

  /** The job's shard references, each with the items a worker reads from its byte range. */
  async function expectShards(jobId: string, count: number): Promise<Array<ShardPayload & { items: InputItem[] }>> {
    const payloads: Array<ShardPayload & { items: InputItem[] }> = [];
    for (let n = 0; n < count; n++) {
      const job = await queue.getJob(shardJobId(jobId, n));
      expect(job, `shard ${n} of ${jobId}`).toBeTruthy();
      expect(job?.opts.attempts).toBe(2);
      const payload = shardPayloadSchema.parse(job?.data);
      // A reference, whatever the texts: a few hundred bytes.
      expect(JSON.stringify(job?.data).length).toBeLessThan(600);
      payloads.push({ ...payload, items: await readShardItems(store(), payload) });
    }
    expect(await queue.getJob(shardJobId(jobId, count))).toBeFalsy();
    return payloads;
  }

  describe('accepted jobs', () => {
    it('takes a JSON job: 202, Location, job view, shards in the queue', async () => {
      const inputs = ['a', { id: 7, text: 'b' }, { text: '' }, 'd', { id: 'x', text: 'é' }];
      const response = await postJson({ task: 'embedding', inputs, metadata: { batch: 'b1' } });
      expect(response.status).toBe(202);
      const view = (await response.json()) as Json;
      expect(view.id).toMatch(/^job_[A-Za-z0-9_-]{22}$/);
      expect(response.headers.get('location')).toBe(`/v1/jobs/${view.id}`);
      expect(view).toMatchObject({
        object: 'job',
        task: 'embed',
        model: 'acme/mini-embed',
        state: 'queued',
        options: { pooling: 'mean', normalize: true, top_k: null, truncate: true },
        metadata: { batch: 'b1' },
        counts: { total: 5, succeeded: 0, failed: 0, deduplicated: 0 },
        shards: { total: 2, done: 0, failed: 0 },
        dimensions: 24,
        started_at: null,
        finished_at: null,
        throughput: { texts_per_second: null, tokens_per_second: null },
        error: null,
        links: { self: `/v1/jobs/${view.id}`, results: `/v1/jobs/${view.id}/results` },
      });
      const shards = await expectShards(view.id as string, 2);
      expect(shards[0]).toMatchObject({ v: 2, jobId: view.id, shard: 0, start: 0, count: 4, task: 'embed', modelId: 'acme/mini-embed' });
      expect(shards[0]?.input).toMatchObject({ key: `jobs/${view.id}/input.ndjson`, format: 'ndjson', start: 0, skip: 0 });
      expect(shards[1]?.input.start).toBe(shards[0]?.input.end);
      expect(shards[0]?.options).toEqual({ pooling: 'mean', normalize: true, truncate: true });
      expect(shards.flatMap((s) => s.items)).toEqual([
        { id: '0', text: 'a' },
        { id: '7', text: 'b' },
        { id: '2', text: '' },
        { id: '3', text: 'd' },
        { id: 'x', text: 'é' },
      ]);
      expect(shards[1]?.start).toBe(4);

      const fetched = (await (await fetch(`${base}/v1/jobs/${view.id}`)).json()) as Json;
      expect(fetched).toMatchObject({ id: view.id, state: 'queued', counts: { total: 5 } });
    });

    it('streams an NDJSON job: BOM, CRLF, blank lines, bare strings, no final newline', async () => {
      const body = `\uFEFF{"id":"a","text":"one"}\r\n\r\n"two"\n   \n{"text":"thr€e"}\n${Array.from({ length: 7 }, (_, i) => `"t${i}"`).join('\n')}`;
      const response = await postNdjson({ task: 'sentiment', top_k: '2', metadata: '{"k":"v"}' }, body, 'application/jsonl');
      expect(response.status).toBe(202);
      const view = (await response.json()) as Json;
      expect(view).toMatchObject({
        task: 'sentiment',
        model: 'tiny-sst',
        options: { pooling: null, normalize: null, top_k: 2, truncate: true },
        metadata: { k: 'v' },
        counts: { total: 10 },
        shards: { total: 3 },
        dimensions: null,
      });
      const shards = await expectShards(view.id as string, 3);
      // The body is stored byte for byte; each shard's range holds whole lines of it.
      const stored = await store().read(`jobs/${view.id}/input.ndjson`);
      expect(stored?.toString('utf8')).toBe(body);
      expect(shards.map((s) => [s.start, s.items.length])).toEqual([
        [0, 4],
        [4, 4],
        [8, 2],
      ]);
      expect(shards[0]?.items.slice(0, 3)).toEqual([
        { id: 'a', text: 'one' },
        { id: '1', text: 'two' },
        { id: '2', text: 'thr€e' },
      ]);
      expect(shards[0]?.options).toEqual({ topK: 2, truncate: true });
    });

    it('streams a body sent in many small chunks', async () => {
      const lines = `${Array.from({ length: 30 }, (_, i) => JSON.stringify({ id: `i${i}`, text: `ünïcode ${i} 😀` })).join('\n')}\n`;
      const bytes = Buffer.from(lines);
      const chunks = Array.from({ length: Math.ceil(bytes.length / 7) }, (_, i) => bytes.subarray(i * 7, i * 7 + 7));
      const response = await fetch(`${base}/v1/jobs?task=embed`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-ndjson' },
        body: Readable.toWeb(Readable.from(chunks)) as ReadableStream,
        duplex: 'half',
      } as RequestInit);
      expect(response.status).toBe(202);
      const view = (await response.json()) as Json;
      const shards = await expectShards(view.id as string, 8);
      expect(shards.flatMap((s) => s.items).map((i) => i.text)).toEqual(Array.from({ length: 30 }, (_, i) => `ünïcode ${i} 😀`));
    });
  });

  describe('refused jobs leave nothing in Redis', () => {
    const tooManyLines = Array.from({ length: LIMITS.MAX_INPUTS_PER_JOB + 1 }, (_, i) => `"t${i}"`).join('\n');
    const withDuplicate = Array.from({ length: 12 }, (_, i) => JSON.stringify({ id: i === 8 ? 'dup' : i === 1 ? 'dup' : `u${i}`, text: 'x' })).join('\n');
    const missingTextAt17 = Array.from({ length: 20 }, (_, i) => (i === 16 ? '{"id":"z","text":5}' : `"t${i}"`)).join('\n');

    const cases: Array<{ name: string; send: () => Promise<Response>; code: string; status: number; line?: number; field?: string }> = [
      {
        name: 'malformed JSON body',
        send: () => fetch(`${base}/v1/jobs`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"task":' }),
        code: 'INVALID_JSON',
        status: 400,
      },
      { name: 'malformed NDJSON line', send: () => postNdjson({ task: 'embed' }, '"a"\n"b"\n{"text":\n"d"\n'), code: 'INVALID_JSON', status: 400, line: 3 },
      {
        name: 'invalid UTF-8',
        send: () => postNdjson({ task: 'embed' }, Buffer.concat([Buffer.from('"a"\n\n"b'), Buffer.from([0xc3, 0x28]), Buffer.from('"\n')])),
        code: 'INVALID_UTF8',
        status: 400,
        line: 3,
      },
      { name: 'line that is not an item', send: () => postNdjson({ task: 'embed' }, '"a"\n[1,2]\n'), code: 'INVALID_INPUT', status: 400, line: 2 },
      { name: 'non-string text', send: () => postNdjson({ task: 'embed' }, missingTextAt17), code: 'MISSING_TEXT', status: 400, line: 17, field: 'text' },
      { name: 'missing text (JSON)', send: () => postJson({ task: 'embed', inputs: ['a', { id: 'b' }] }), code: 'MISSING_TEXT', status: 400, field: 'text' },
      { name: 'bad id type', send: () => postNdjson({ task: 'embed' }, '{"id":{"a":1},"text":"x"}\n'), code: 'INVALID_INPUT', status: 400, line: 1, field: 'id' },
      { name: 'empty NDJSON body', send: () => postNdjson({ task: 'embed' }, '\n  \r\n'), code: 'EMPTY_CORPUS', status: 400 },
      { name: 'empty inputs', send: () => postJson({ task: 'embed', inputs: [] }), code: 'EMPTY_CORPUS', status: 400 },
      { name: 'line over MAX_LINE_BYTES', send: () => postNdjson({ task: 'embed' }, `"a"\n"${'x'.repeat(400)}"\n`), code: 'LINE_TOO_LONG', status: 413, line: 2 },
      { name: 'too many inputs', send: () => postNdjson({ task: 'embed' }, tooManyLines), code: 'TOO_MANY_INPUTS', status: 413, line: 51 },
      { name: 'duplicate id', send: () => postNdjson({ task: 'embed' }, withDuplicate), code: 'DUPLICATE_ID', status: 400, line: 9, field: 'id' },
      { name: 'duplicate of a default id', send: () => postJson({ task: 'embed', inputs: ['a', { id: '0', text: 'b' }] }), code: 'DUPLICATE_ID', status: 400, field: 'id' },
      { name: 'unknown task', send: () => postJson({ task: 'translate', inputs: ['a'] }), code: 'UNKNOWN_TASK', status: 400, field: 'task' },
      { name: 'unknown model', send: () => postNdjson({ task: 'embed', model: 'acme/nothing' }, '"a"\n'), code: 'UNKNOWN_MODEL', status: 400, field: 'model' },
      { name: 'model outside MODEL_DIR', send: () => postJson({ task: 'embed', model: '../outside', inputs: ['a'] }), code: 'INVALID_MODEL', status: 400, field: 'model' },
      {
        name: 'URL-encoded traversal',
        send: () => fetch(`${base}/v1/jobs?task=embed&model=%2e%2e%2foutside`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: '"a"\n' }),
        code: 'INVALID_MODEL',
        status: 400,
      },
      { name: 'absolute model path', send: () => postJson({ task: 'embed', model: join(root, 'outside'), inputs: ['a'] }), code: 'INVALID_MODEL', status: 400 },
      { name: 'model of another task', send: () => postJson({ task: 'embed', model: 'tiny-sst', inputs: ['a'] }), code: 'INVALID_MODEL', status: 400 },
      { name: 'top_k on embed', send: () => postJson({ task: 'embed', options: { top_k: 1 }, inputs: ['a'] }), code: 'INVALID_OPTION', status: 400, field: 'top_k' },
      { name: 'pooling on sentiment', send: () => postNdjson({ task: 'sentiment', pooling: 'cls' }, '"a"\n'), code: 'INVALID_OPTION', status: 400, field: 'pooling' },
      { name: 'wrong option type', send: () => postNdjson({ task: 'embed', normalize: 'maybe' }, '"a"\n'), code: 'INVALID_OPTION', status: 400, field: 'normalize' },
      { name: 'JSON body over the limit', send: () => postJson({ task: 'embed', inputs: ['x'.repeat(LIMITS.MAX_JSON_BODY_BYTES)] }), code: 'BODY_TOO_LARGE', status: 413 },
      { name: 'unsupported media type', send: () => postNdjson({ task: 'embed' }, '"a"\n', 'text/plain'), code: 'UNSUPPORTED_MEDIA_TYPE', status: 415 },
      {
        name: 'no content type',
        send: () => fetch(`${base}/v1/jobs?task=embed`, { method: 'POST', body: new Uint8Array(Buffer.from('"a"\n')) }),
        code: 'UNSUPPORTED_MEDIA_TYPE',
        status: 415,
      },
    ];

    for (const c of cases) {
      it(`${c.name} -> ${c.code}`, async () => {
        const before = await snapshot();
        const response = await c.send();
        const body = (await response.json()) as ErrorBody;
        expect(response.status, JSON.stringify(body)).toBe(c.status);
        expect(body.error.code).toBe(c.code);
        expect(typeof body.error.message).toBe('string');
        if (c.line !== undefined) {
          expect(body.error.line).toBe(c.line);
          expect(body.error.message).toMatch(new RegExp(`^line ${c.line}: `));
        }
        if (c.field !== undefined) expect(body.error.field).toBe(c.field);
        expect(response.headers.get('location')).toBeNull();
        expect(await snapshot()).toEqual(before);
      });
    }

    it('names both lines of a duplicate id and lists valid tasks', async () => {
      const dup = (await (await postNdjson({ task: 'embed' }, withDuplicate)).json()) as ErrorBody;
      expect(dup.error.message).toContain('line 9');
      expect(dup.error.message).toContain('line 2');
      const task = (await (await postJson({ task: 'nope', inputs: ['a'] })).json()) as ErrorBody;
      for (const name of ['embed', 'sentiment', 'feature-extraction', 'text-classification']) expect(task.error.message).toContain(name);
    });

    it('removes the partial input object when the client aborts mid-upload', async () => {
      const before = await snapshot();
      const controller = new AbortController();
      let sent = 0;
      let partialBeforeAbort = 0;
      async function* slowBody(): AsyncGenerator<Buffer> {
        for (let i = 0; i < LIMITS.MAX_INPUTS_PER_JOB - 5; i++) {
          yield Buffer.from(`${JSON.stringify({ id: `s${i}`, text: 'x' })}\n`);
          sent++;
          if (sent === 20) {
            // Enough for the input object to be written in part, then the client goes away.
            await new Promise((r) => setTimeout(r, 300));
            partialBeforeAbort = (await snapshot()).partial.length;
            controller.abort();
          }
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      await expect(
        fetch(`${base}/v1/jobs?task=embed`, {
          method: 'POST',
          headers: { 'content-type': 'application/x-ndjson' },
          body: Readable.toWeb(Readable.from(slowBody())) as ReadableStream,
          duplex: 'half',
          signal: controller.signal,
        } as RequestInit),
      ).rejects.toThrow();
      // The API cleans up after it notices the abort; give it a moment, then nothing may be left.
      const deadline = Date.now() + 5000;
      let after = await snapshot();
      while (Date.now() < deadline && JSON.stringify(after) !== JSON.stringify(before)) {
        await new Promise((r) => setTimeout(r, 50));
        after = await snapshot();
      }
      expect(partialBeforeAbort).toBeGreaterThan(0);
      expect(after).toEqual(before);
    });
  });

  describe('reading and cancelling jobs', () => {
    it('answers 404 JOB_NOT_FOUND for unknown and malformed ids', async () => {
      for (const path of [
        '/v1/jobs/job_AAAAAAAAAAAAAAAAAAAAAA',
        '/v1/jobs/job_short',
        '/v1/jobs/..%2F..%2Fetc',
        '/v1/jobs/job_AAAAAAAAAAAAAAAAAAAAAA/results',
        '/v1/jobs/job_AAAAAAAAAAAAAAAAAAAAAA/errors',
      ]) {
        const response = await fetch(`${base}${path}`);
        expect(response.status, path).toBe(404);
        expect(((await response.json()) as ErrorBody).error.code).toBe('JOB_NOT_FOUND');
      }
      const cancel = await fetch(`${base}/v1/jobs/job_AAAAAAAAAAAAAAAAAAAAAA/cancel`, { method: 'POST' });
      expect(cancel.status).toBe(404);
    });

    it('refuses results of an unfinished job unless partial=true', async () => {
      const view = (await (await postJson({ task: 'embed', inputs: ['a'] })).json()) as Json;
      const refused = await fetch(`${base}/v1/jobs/${view.id}/results`);
      expect(refused.status).toBe(409);
      expect(((await refused.json()) as ErrorBody).error.code).toBe('JOB_NOT_FINISHED');
      const partial = await fetch(`${base}/v1/jobs/${view.id}/results?partial=true`);
      expect(partial.status).toBe(200);
      expect(partial.headers.get('content-type')).toContain('application/x-ndjson');
      expect(await partial.text()).toBe('');
    });

    it('streams written shards in order: NDJSON results, errors, float32 embeddings', async () => {
      const view = (await (await postJson({ task: 'embed', inputs: Array.from({ length: 10 }, (_, i) => `t${i}`) })).json()) as Json;
      const id = view.id as string;
      const results = new ResultStore(store());
      const row = (value: number) => new Float32Array(24).fill(value);
      const line = (i: number) => `{"id":"${i}","index":${i},"embedding":[${Array(24).fill(i).join(',')}]}\n`;
      const errorLine = (i: number) => `{"id":"${i}","index":${i},"error":{"code":"INFERENCE_FAILED","message":"m"}}\n`;
      // Shard 1 (items 4..7) is never written: it is skipped.
      const shard0 = new ShardResultWriter({ task: 'embed', start: 0, count: 4, ids: ['0', '1', '2', '3'], dimensions: 24 });
      for (const i of [0, 1, 2]) shard0.setEmbedding(i, row(i), { tokens: 3, truncated: false });
      shard0.setError(3, { code: 'INFERENCE_FAILED', message: 'm' }, 3);
      await results.writeShard(id, 0, shard0.finish());
      const shard2 = new ShardResultWriter({ task: 'embed', start: 8, count: 2, ids: ['8', '9'], dimensions: 24 });
      for (const i of [0, 1]) shard2.setEmbedding(i, row(8 + i), { tokens: 3, truncated: false });
      await results.writeShard(id, 2, shard2.finish());
      await client.hset(`${PREFIX}:job:${id}`, 'state', 'completed', 'finishedAt', String(Date.now()));

      const ndjson = await fetch(`${base}/v1/jobs/${id}/results`);
      expect(ndjson.status).toBe(200);
      expect(ndjson.headers.get('content-type')).toContain('application/x-ndjson');
      expect(await ndjson.text()).toBe([0, 1, 2].map(line).join('') + errorLine(3) + [8, 9].map(line).join(''));

      const errors = await fetch(`${base}/v1/jobs/${id}/errors`);
      expect(await errors.text()).toBe(errorLine(3));

      for (const request of [fetch(`${base}/v1/jobs/${id}/results?format=f32`), fetch(`${base}/v1/jobs/${id}/results`, { headers: { accept: 'application/octet-stream' } })]) {
        const binary = await request;
        expect(binary.headers.get('content-type')).toBe('application/octet-stream');
        expect(binary.headers.get('x-embedding-dimensions')).toBe('24');
        expect(binary.headers.get('x-item-count')).toBe('6');
        const floats = new Float32Array(await binary.arrayBuffer());
        expect(floats.length).toBe(6 * 24);
        expect([0, 1, 2, 3, 4, 5].map((r) => floats[r * 24])).toEqual([0, 1, 2, Number.NaN, 8, 9]);
      }

      const sentiment = (await (await postJson({ task: 'sentiment', inputs: ['a'] })).json()) as Json;
      await client.hset(`${PREFIX}:job:${sentiment.id}`, 'state', 'completed');
      const refused = await fetch(`${base}/v1/jobs/${sentiment.id}/results?format=f32`);
      expect(refused.status).toBe(400);
    });

    it('cancels a queued job: state, waiting shards removed, cancel published; twice is fine', async () => {
      const subscriber = new Redis(redis.url);
      const published: string[] = [];
      await subscriber.subscribe(`${PREFIX}:cancel`);
      subscriber.on('message', (_channel: string, message: string) => published.push(message));

      const view = (await (await postJson({ task: 'sentiment', inputs: Array.from({ length: 9 }, (_, i) => `t${i}`) })).json()) as Json;
      const id = view.id as string;
      await expectShards(id, 3);
      const first = await fetch(`${base}/v1/jobs/${id}/cancel`, { method: 'POST' });
      expect(first.status).toBe(200);
      const cancelled = (await first.json()) as Json;
      expect(cancelled).toMatchObject({ id, state: 'cancelled' });
      expect(cancelled.finished_at).not.toBeNull();
      for (let n = 0; n < 3; n++) expect(await queue.getJob(shardJobId(id, n))).toBeFalsy();

      const again = await fetch(`${base}/v1/jobs/${id}/cancel`, { method: 'POST' });
      expect(again.status).toBe(200);
      expect(((await again.json()) as Json).state).toBe('cancelled');

      const deadline = Date.now() + 2000;
      while (published.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(published).toEqual([id]);
      subscriber.disconnect();
    });

    it('answers 409 JOB_FINISHED when cancelling a completed job', async () => {
      const view = (await (await postJson({ task: 'embed', inputs: ['a'] })).json()) as Json;
      await client.hset(`${PREFIX}:job:${view.id}`, 'state', 'completed', 'finishedAt', String(Date.now()));
      const response = await fetch(`${base}/v1/jobs/${view.id}/cancel`, { method: 'POST' });
      expect(response.status).toBe(409);
      expect(((await response.json()) as ErrorBody).error.code).toBe('JOB_FINISHED');
    });

    it('lists jobs newest first with pagination', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        ids.push(((await (await postJson({ task: 'embed', inputs: [`p${i}`] })).json()) as Json).id as string);
        await new Promise((r) => setTimeout(r, 5));
      }
      const page1 = (await (await fetch(`${base}/v1/jobs?limit=2`)).json()) as Json & { data: Json[]; total: number };
      expect(page1).toMatchObject({ object: 'list', limit: 2, offset: 0, has_more: true });
      expect(page1.data.map((j) => j.id)).toEqual([ids[2], ids[1]]);
      const page2 = (await (await fetch(`${base}/v1/jobs?limit=2&offset=2`)).json()) as Json & { data: Json[] };
      expect(page2.data[0]?.id).toBe(ids[0]);
      const last = (await (await fetch(`${base}/v1/jobs?limit=100&offset=${page1.total - 1}`)).json()) as Json & { data: Json[] };
      expect(last.data).toHaveLength(1);
      expect(last.has_more).toBe(false);
      expect(((await (await fetch(`${base}/v1/jobs`)).json()) as Json).limit).toBe(20);
      for (const bad of ['limit=0', 'limit=101', 'limit=abc', 'offset=-1']) {
        expect((await fetch(`${base}/v1/jobs?${bad}`)).status, bad).toBe(400);
      }
    });
  });

  describe('service endpoints', () => {
    it('lists the models under MODEL_DIR', async () => {
      const body = (await (await fetch(`${base}/v1/models`)).json()) as { object: string; data: Json[] };
      expect(body.object).toBe('list');
      expect(body.data).toEqual([
        { id: 'acme/mini-embed', task: ['embed'], family: 'bert', dimensions: 24, labels: null, max_tokens: 128, default_for: ['embed'] },
        { id: 'tiny-sst', task: ['sentiment'], family: 'distilbert', dimensions: 16, labels: ['NEGATIVE', 'POSITIVE'], max_tokens: 128, default_for: ['sentiment'] },
      ]);
    });

    it('serves health, readiness and metrics without job ids in labels', async () => {
      expect(await (await fetch(`${base}/healthz`)).json()).toEqual({ status: 'ok' });
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain('shardwise_api_jobs_submitted_total{task="embed"}');
      expect(metrics).toContain('shardwise_api_jobs_rejected_total{code="DUPLICATE_ID"}');
      expect(metrics).toContain('shardwise_api_texts_submitted_total{task="sentiment"}');
      expect(metrics).toContain('route="/v1/jobs/:id"');
      expect(metrics).toContain('process_cpu_user_seconds_total');
      expect(metrics).not.toMatch(/job_[A-Za-z0-9_-]{22}/);
    });
  });
});
