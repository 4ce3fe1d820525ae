import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import OpenAI, { APIError, toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { QueueName, shardJobId } from '#shared';
import { API_ENTRY, startApp, WORKER_ENTRY, type AppProcess } from '../support/app-process.js';
import { freePort, startRedis, type RedisHandle } from '../support/redis-server.js';

/**
 * The official `openai` npm client, unchanged, against the built API and a worker: files, batches
 * (embeddings and classifications), synchronous embeddings (float and base64), errors in OpenAI's
 * shape, cancel, list, and the OpenAPI document. A second API on a prefix no worker serves (at
 * first) checks the 504, a cancelled batch, and that synchronous shards jump a batch backlog.
 */

const MODEL_DIR = resolve(import.meta.dirname, '../../.cache/models');
const EMBED = 'shardwise-random/bert-tiny-embed';
const SENTIMENT = 'shardwise-random/distilbert-tiny-sentiment';
const DIMS = 32;

type Json = Record<string, any>;

const norm = (v: number[]) => Math.sqrt(v.reduce((a, x) => a + x * x, 0));
const jsonl = (lines: unknown[]) => `${lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n')}\n`;
const parseJsonl = (text: string) =>
  text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Json);
const embedLine = (customId: string, input: string | string[], extra: Json = {}) => ({
  custom_id: customId,
  method: 'POST',
  url: '/v1/embeddings',
  body: { model: EMBED, input, ...extra },
});

async function upload(client: OpenAI, text: string, name = 'batch.jsonl') {
  return client.files.create({ file: await toFile(Buffer.from(text), name), purpose: 'batch' });
}

async function waitForBatch(client: OpenAI, id: string, until: (b: OpenAI.Batches.Batch) => boolean, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const batch = await client.batches.retrieve(id);
    if (until(batch)) return batch;
    if (Date.now() > deadline) throw new Error(`batch ${id} still ${batch.status}`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

describe('OpenAI compatibility, with the official openai client', () => {
  let redis: RedisHandle;
  let api: AppProcess;
  let worker: AppProcess;
  let idleApi: AppProcess;
  let idleWorker: AppProcess | undefined;
  let resultsDir: string;
  let client: OpenAI;
  let idle: OpenAI;

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny' });
    redis = await startRedis();
    resultsDir = await mkdtemp(join(tmpdir(), 'sw-openai-'));
    const common = { REDIS_URL: redis.url, MODEL_DIR, RESULTS_DIR: resultsDir };
    const [apiPort, workerPort, idlePort] = await Promise.all([freePort(), freePort(), freePort()]);
    [api, worker, idleApi] = await Promise.all([
      startApp(API_ENTRY, { ...common, PORT: String(apiPort), SHARD_MAX_TEXTS: '16' }, apiPort),
      startApp(WORKER_ENTRY, { ...common, WORKER_PORT: String(workerPort), INFERENCE_THREADS: '1', PRELOAD_MODELS: `${EMBED},${SENTIMENT}` }, workerPort),
      // No worker serves this prefix until the priority test starts one.
      startApp(API_ENTRY, { ...common, REDIS_PREFIX: 'idle', PORT: String(idlePort), SHARD_MAX_TEXTS: '1', SYNC_TIMEOUT_MS: '1500', MAX_UPLOAD_BYTES: '200000' }, idlePort),
    ]);
    client = new OpenAI({ apiKey: 'unused', baseURL: `${api.baseUrl}/v1`, maxRetries: 0 });
    idle = new OpenAI({ apiKey: 'unused', baseURL: `${idleApi.baseUrl}/v1`, maxRetries: 0 });
  });

  afterAll(async () => {
    await Promise.all([idleWorker?.stop(), worker?.stop()]);
    await Promise.all([api?.stop(), idleApi?.stop()]);
    await redis?.stop();
    if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
  });

  it('runs an embeddings batch: upload, create, poll, output file with every custom_id, unit-norm embeddings, usage', async () => {
    const requests = Array.from({ length: 40 }, (_, i) =>
      i % 5 === 0 ? embedLine(`multi-${i}`, [`text ${i} a`, `text ${i} b`, `the third text of request ${i}`]) : embedLine(`req-${i}`, `text number ${i} ünïcode ✓`),
    );
    const file = await upload(client, jsonl(requests));
    expect(file).toMatchObject({ object: 'file', purpose: 'batch', filename: 'batch.jsonl', bytes: Buffer.byteLength(jsonl(requests)) });
    expect((await client.files.retrieve(file.id)).id).toBe(file.id);
    expect(await (await client.files.content(file.id)).text()).toBe(jsonl(requests));

    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h', metadata: { run: 'e2e' } });
    expect(created).toMatchObject({ object: 'batch', status: 'in_progress', endpoint: '/v1/embeddings', metadata: { run: 'e2e' }, request_counts: { total: 40 } });
    expect(created.expires_at! - created.created_at).toBe(24 * 3600);

    // The batch's job reads the uploaded file itself: the store holds no second copy of the input.
    const records = new Redis(redis.url);
    const jobId = JSON.parse((await records.hget(`sw:oai:batch:${created.id}`, 'jobId'))!) as string;
    records.disconnect();
    expect(await readdir(join(resultsDir, 'jobs', jobId))).not.toContain('input.ndjson');
    expect(await readdir(join(resultsDir, 'files'))).toContain(file.id);

    const done = await waitForBatch(client, created.id, (b) => b.status === 'completed');
    expect(done.request_counts).toEqual({ total: 40, completed: 40, failed: 0 });
    expect(done.error_file_id).toBeNull();
    expect(done.completed_at).toBeGreaterThanOrEqual(done.created_at);
    const lines = parseJsonl(await (await client.files.content(done.output_file_id!)).text());
    expect(lines.map((l) => l.custom_id)).toEqual(requests.map((r) => r.custom_id));
    for (const [i, line] of lines.entries()) {
      expect(line.id).toMatch(/^batch_req_/);
      expect(line.error).toBeNull();
      expect(line.response.status_code).toBe(200);
      const body = line.response.body;
      expect(body).toMatchObject({ object: 'list', model: EMBED });
      const inputs = requests[i]!.body.input;
      expect(body.data).toHaveLength(Array.isArray(inputs) ? inputs.length : 1);
      body.data.forEach((item: Json, j: number) => {
        expect(item).toMatchObject({ object: 'embedding', index: j });
        expect(item.embedding).toHaveLength(DIMS);
        expect(Math.abs(norm(item.embedding) - 1)).toBeLessThan(1e-4);
      });
      expect(body.usage.prompt_tokens).toBeGreaterThan(body.data.length); // [CLS] … [SEP] at least
      expect(body.usage.total_tokens).toBe(body.usage.prompt_tokens);
    }
    // The batch's usage is the sum of its responses' usage, in the SDK's BatchUsage shape.
    const promptTokens = lines.reduce((sum, line) => sum + (line.response.body.usage.prompt_tokens as number), 0);
    expect(done.usage).toEqual({
      input_tokens: promptTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: 0,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: promptTokens,
    });
    expect((await client.batches.list()).data.find((b) => b.id === done.id)?.usage?.input_tokens).toBe(promptTokens);

    // The same text through the synchronous endpoint gives the same vector.
    const sync = await client.embeddings.create({ model: EMBED, input: 'text number 1 ünïcode ✓', encoding_format: 'float' });
    const fromBatch = lines[1]!.response.body.data[0].embedding as number[];
    expect(Math.max(...sync.data[0]!.embedding.map((v, d) => Math.abs(v - fromBatch[d]!)))).toBeLessThan(1e-6);
  });

  it('puts failed requests in the error file by custom_id, and classifies in a batch', async () => {
    const long = Array.from({ length: 400 }, (_, i) => `word${i}`).join(' ');
    const requests = [embedLine('short', 'fine', { truncate: false }), embedLine('too-long', long, { truncate: false }), embedLine('mixed', ['ok', long], { truncate: false })];
    const embedBatch = await client.batches.create({ input_file_id: (await upload(client, jsonl(requests))).id, endpoint: '/v1/embeddings', completion_window: '24h' });
    const classifyLines = ['great', 'awful', 'fine'].map((text, i) => ({
      custom_id: `c${i}`,
      method: 'POST',
      url: '/v1/classifications',
      body: { model: SENTIMENT, input: text },
    }));
    const classifyBatch = await client.batches.create({
      input_file_id: (await upload(client, jsonl(classifyLines))).id,
      endpoint: '/v1/classifications' as '/v1/embeddings',
      completion_window: '24h',
    });

    const done = await waitForBatch(client, embedBatch.id, (b) => b.status === 'completed');
    expect(done.request_counts).toEqual({ total: 3, completed: 1, failed: 2 });
    const output = parseJsonl(await (await client.files.content(done.output_file_id!)).text());
    expect(output.map((l) => l.custom_id)).toEqual(['short']);
    const errors = parseJsonl(await (await client.files.content(done.error_file_id!)).text());
    expect(errors.map((l) => l.custom_id)).toEqual(['too-long', 'mixed']);
    for (const line of errors) {
      expect(line.response).toBeNull();
      expect(line.error.code).toBe('text_too_long');
    }
    expect(errors[1]!.error.message).toMatch(/^input\[1\]: /);
    // Texts over the limit (400+ tokens each) are not billed; "fine", and "ok" of the failed mixed request, are.
    const shortTokens = output[0]!.response.body.usage.prompt_tokens as number;
    expect(done.usage!.input_tokens).toBeGreaterThan(shortTokens);
    expect(done.usage!.input_tokens).toBeLessThan(shortTokens + 10);

    const classified = await waitForBatch(client, classifyBatch.id, (b) => b.status === 'completed');
    const results = parseJsonl(await (await client.files.content(classified.output_file_id!)).text());
    expect(results.map((l) => l.custom_id)).toEqual(['c0', 'c1', 'c2']);
    for (const line of results) {
      const [item] = line.response.body.data;
      expect(item).toMatchObject({ object: 'classification', index: 0 });
      expect(Object.values(item.scores as Record<string, number>).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
      expect(item.scores[item.label]).toBe(item.score);
    }
  });

  it('refuses a malformed file at creation: a failed batch whose errors name the line; no job is created', async () => {
    const lines = [embedLine('a', 'one'), embedLine('b', 'two'), '{"custom_id": "c", "method": "POST",', embedLine('d', 'four')];
    const bad = await client.batches.create({ input_file_id: (await upload(client, jsonl(lines))).id, endpoint: '/v1/embeddings', completion_window: '24h' });
    expect(bad.status).toBe('failed');
    expect(bad.failed_at).not.toBeNull();
    expect(bad.errors?.data).toEqual([expect.objectContaining({ code: 'invalid_json', line: 3 })]);
    expect((bad as unknown as Json).job_id).toBeNull();

    const duplicate = [embedLine('x', 'one'), embedLine('y', 'two'), embedLine('x', 'three')];
    const dup = await client.batches.create({ input_file_id: (await upload(client, jsonl(duplicate))).id, endpoint: '/v1/embeddings', completion_window: '24h' });
    expect(dup.status).toBe('failed');
    expect(dup.errors?.data?.[0]).toMatchObject({ code: 'duplicate_id', line: 3, param: 'custom_id' });
    expect(dup.errors?.data?.[0]?.message).toContain('line 1');

    const mixed = [embedLine('x', 'one'), { ...embedLine('y', 'two'), url: '/v1/chat/completions' }];
    const wrongUrl = await client.batches.create({ input_file_id: (await upload(client, jsonl(mixed))).id, endpoint: '/v1/embeddings', completion_window: '24h' });
    expect(wrongUrl.errors?.data?.[0]).toMatchObject({ line: 2, param: 'url' });

    const unknown = [embedLine('x', 'one', { model: 'text-embedding-3-small' })];
    const noModel = await client.batches.create({ input_file_id: (await upload(client, jsonl(unknown))).id, endpoint: '/v1/embeddings', completion_window: '24h' });
    expect(noModel.errors?.data?.[0]).toMatchObject({ code: 'unknown_model', line: 1, param: 'body.model' });

    // Request-level problems are errors of the call itself, in OpenAI's shape.
    const missing = await client.batches.create({ input_file_id: 'file-doesnotexist0000000000', endpoint: '/v1/embeddings', completion_window: '24h' }).catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(OpenAI.NotFoundError);
    const endpoint = await client.batches
      .create({ input_file_id: bad.input_file_id, endpoint: '/v1/chat/completions', completion_window: '24h' })
      .catch((e: unknown) => e as APIError);
    expect(endpoint).toBeInstanceOf(OpenAI.BadRequestError);
    expect((endpoint as APIError).param).toBe('endpoint');
  });

  it('embeds synchronously: float and base64 (the client default), usage, OpenAI-shaped errors', async () => {
    const input = ['the quick brown fox', 'jumps over', ''];
    const asFloat = await client.embeddings.create({ model: EMBED, input, encoding_format: 'float' });
    expect(asFloat).toMatchObject({ object: 'list', model: EMBED });
    expect(asFloat.data.map((d) => d.index)).toEqual([0, 1, 2]);
    expect(asFloat.usage.prompt_tokens).toBeGreaterThanOrEqual(6);
    for (const item of asFloat.data) {
      expect(item.embedding).toHaveLength(DIMS);
      expect(Math.abs(norm(item.embedding) - 1)).toBeLessThan(1e-4);
    }
    // No encoding_format: the client asks for base64 and decodes it into floats itself.
    const decoded = await client.embeddings.create({ model: EMBED, input });
    expect(decoded.data.map((d) => d.embedding)).toEqual(asFloat.data.map((d) => d.embedding.map((v) => Math.fround(v))));
    const raw = await client.embeddings.create({ model: EMBED, input: 'x', encoding_format: 'base64' });
    expect(typeof raw.data[0]!.embedding).toBe('string');
    expect(Buffer.from(raw.data[0]!.embedding as unknown as string, 'base64')).toHaveLength(DIMS * 4);

    const unknown = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'x' }).catch((e: unknown) => e as APIError);
    expect(unknown).toBeInstanceOf(OpenAI.NotFoundError);
    expect((unknown as APIError).code).toBe('model_not_found');
    const wrongTask = await client.embeddings.create({ model: SENTIMENT, input: 'x' }).catch((e: unknown) => e as APIError);
    expect((wrongTask as APIError).status).toBe(400);
    const tooMany = await client.embeddings.create({ model: EMBED, input: Array.from({ length: 2049 }, () => 'x') }).catch((e: unknown) => e as APIError);
    expect(tooMany).toBeInstanceOf(OpenAI.BadRequestError);
    expect((tooMany as APIError).param).toBe('input');
    const dims = await client.embeddings.create({ model: EMBED, input: 'x', dimensions: DIMS + 1 }).catch((e: unknown) => e as APIError);
    expect((dims as APIError).param).toBe('dimensions');
    expect((await client.embeddings.create({ model: EMBED, input: 'x', dimensions: 8, encoding_format: 'float' })).data[0]!.embedding).toHaveLength(8);
    expect((await client.embeddings.create({ model: EMBED, input: 'x', dimensions: DIMS, encoding_format: 'float' })).data[0]!.embedding).toHaveLength(DIMS);

    const classified = (await client.post('/classifications', { body: { model: SENTIMENT, input: ['good', 'bad'] } })) as Json;
    expect(classified.data).toHaveLength(2);
    expect(classified.data[0]).toMatchObject({ object: 'classification', index: 0 });

    const badJson = await fetch(`${api.baseUrl}/v1/embeddings`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' });
    expect(badJson.status).toBe(400);
    expect(((await badJson.json()) as Json).error).toMatchObject({ type: 'invalid_request_error', code: 'invalid_json' });
    // Synchronous requests leave no job behind.
    expect(((await (await fetch(`${api.baseUrl}/v1/jobs?limit=100`)).json()) as Json).data.every((j: Json) => j.metadata?.openai_batch_id)).toBe(true);
  });

  it('lists batches and files with cursor pages, deletes files', async () => {
    const ids: string[] = [];
    for await (const batch of client.batches.list({ limit: 2 })) ids.push(batch.id);
    expect(ids.length).toBeGreaterThanOrEqual(7);
    expect(new Set(ids).size).toBe(ids.length);
    const first = await client.batches.list({ limit: 2 });
    expect(first.data).toHaveLength(2);
    expect(first.has_more).toBe(true);
    expect(first.data.map((b) => b.id)).toEqual(ids.slice(0, 2));

    const file = await upload(client, jsonl([embedLine('z', 'z')]), 'to-delete.jsonl');
    const listed: string[] = [];
    for await (const f of client.files.list({ purpose: 'batch' })) listed.push(f.id);
    expect(listed[0]).toBe(file.id);
    expect(await client.files.delete(file.id)).toEqual({ id: file.id, object: 'file', deleted: true });
    expect(await client.files.retrieve(file.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.NotFoundError);
  });

  it('refuses uploads over MAX_UPLOAD_BYTES with 413 and keeps no partial file', async () => {
    const big = jsonl(Array.from({ length: 2000 }, (_, i) => embedLine(`big-${i}`, `text ${i}`)));
    expect(Buffer.byteLength(big)).toBeGreaterThan(200_000);
    const error = await upload(idle, big).catch((e: unknown) => e as APIError);
    expect((error as APIError).status).toBe(413);
    expect((error as APIError).code).toBe('file_too_large');
    expect(await readdir(join(resultsDir, '.partial')).catch(() => [])).toEqual([]);
  });

  it('answers 504 when no worker finishes in SYNC_TIMEOUT_MS, and cancels that job', async () => {
    const started = Date.now();
    const error = await idle.embeddings.create({ model: EMBED, input: 'nobody serves this prefix' }).catch((e: unknown) => e as APIError);
    expect((error as APIError).status).toBe(504);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    const jobs = ((await (await fetch(`${idleApi.baseUrl}/v1/jobs`)).json()) as Json).data as Json[];
    expect(jobs[0]).toMatchObject({ state: 'cancelled', counts: { total: 1 } });
  });

  it('cancels a batch: cancelling, then cancelled with every unrun request in the error file', async () => {
    const requests = Array.from({ length: 5 }, (_, i) => embedLine(`r${i}`, `text ${i}`));
    const batch = await idle.batches.create({ input_file_id: (await upload(idle, jsonl(requests))).id, endpoint: '/v1/embeddings', completion_window: '24h' });
    expect(batch.status).toBe('in_progress');
    const cancelling = await idle.batches.cancel(batch.id);
    expect(['cancelling', 'cancelled']).toContain(cancelling.status);
    expect(cancelling.cancelling_at).not.toBeNull();
    const cancelled = await waitForBatch(idle, batch.id, (b) => b.status === 'cancelled');
    expect(cancelled.request_counts).toEqual({ total: 5, completed: 0, failed: 5 });
    expect(cancelled.output_file_id).toBeNull();
    const errors = parseJsonl(await (await idle.files.content(cancelled.error_file_id!)).text());
    expect(errors.map((l) => l.custom_id)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    expect(errors.every((l) => l.error.code === 'batch_cancelled' && l.response === null)).toBe(true);
    expect(await idle.batches.cancel(batch.id)).toMatchObject({ status: 'cancelled' });
    // A finished batch cannot be cancelled.
    const finished = (await client.batches.list({ limit: 1 })).data[0]!;
    expect(await client.batches.cancel(finished.id).catch((e: unknown) => e)).toBeInstanceOf(OpenAI.ConflictError);
  });

  it('runs synchronous shards ahead of a queued batch backlog (BullMQ priority)', async () => {
    // The queue is paused while the backlog and then the synchronous request are queued, so the
    // order the worker takes them in is the queue's alone.
    const connection = new Redis(redis.url);
    const queue = new Queue(QueueName.Shards, { connection, prefix: 'idle:bull' });
    await queue.pause();
    const port = await freePort();
    idleWorker = await startApp(
      WORKER_ENTRY,
      {
        REDIS_URL: redis.url,
        REDIS_PREFIX: 'idle',
        MODEL_DIR,
        RESULTS_DIR: resultsDir,
        WORKER_PORT: String(port),
        INFERENCE_THREADS: '1',
        WORKER_CONCURRENCY: '1',
        PRELOAD_MODELS: EMBED,
      },
      port,
    );
    const requests = Array.from({ length: 300 }, (_, i) => embedLine(`b${i}`, `backlog text ${i}`));
    const backlog = await idle.batches.create({ input_file_id: (await upload(idle, jsonl(requests))).id, endpoint: '/v1/embeddings', completion_window: '24h' });
    const jobId = (backlog as unknown as Json).job_id as string;
    expect((await queue.getJob(shardJobId(jobId, 0)))?.opts.priority).toBe(100);

    const sync = idle.embeddings.create({ model: EMBED, input: 'me first', encoding_format: 'float' }).then(async (response) => ({
      response,
      backlog: await idle.batches.retrieve(backlog.id),
    }));
    // Resumed once the synchronous shard is in the queue.
    const deadline = Date.now() + 5000;
    while ((await queue.getPrioritizedCount()) < 301 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await queue.resume();
    const outcome = await sync;
    expect(outcome.response.data[0]!.embedding).toHaveLength(DIMS);
    const done = outcome.backlog.request_counts!.completed + outcome.backlog.request_counts!.failed;
    expect(done).toBeLessThan(100);
    await waitForBatch(idle, backlog.id, (b) => b.status === 'completed');
    await queue.close();
    connection.disconnect();
  });

  it('documents every route in /docs/openapi.json, and serves Swagger UI at /docs', async () => {
    const spec = (await (await fetch(`${api.baseUrl}/docs/openapi.json`)).json()) as Json;
    expect(spec.openapi).toMatch(/^3\./);
    const routes = Object.entries(spec.paths as Record<string, Json>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    const expected = [
      'POST /v1/jobs',
      'GET /v1/jobs',
      'GET /v1/jobs/{id}',
      'POST /v1/jobs/{id}/cancel',
      'GET /v1/jobs/{id}/results',
      'GET /v1/jobs/{id}/errors',
      'GET /v1/models',
      'GET /healthz',
      'GET /readyz',
      'GET /metrics',
      'POST /v1/files',
      'GET /v1/files',
      'GET /v1/files/{id}',
      'GET /v1/files/{id}/content',
      'DELETE /v1/files/{id}',
      'POST /v1/batches',
      'GET /v1/batches',
      'GET /v1/batches/{id}',
      'POST /v1/batches/{id}/cancel',
      'POST /v1/embeddings',
      'POST /v1/classifications',
    ];
    expect(routes).toEqual(expect.arrayContaining(expected));
    expect(spec.paths['/v1/batches'].post.requestBody.content['application/json'].schema.required).toContain('input_file_id');
    expect(spec.paths['/v1/jobs/{id}'].get.summary).toBeTruthy();
    const ui = await fetch(`${api.baseUrl}/docs`);
    expect(ui.status).toBe(200);
    expect(await ui.text()).toContain('swagger');
  });
});
