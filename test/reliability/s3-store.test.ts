import { readdir } from 'node:fs/promises';
import { CreateMultipartUploadCommand, ListMultipartUploadsCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import type { AppProcess } from '../support/app-process.js';
import { startS3Server, type S3ServerHandle } from '../support/s3-server.js';
import { finished, MODEL_DIR, postJob, postNdjson, request, resultsOf, Stack, summary, tally, TINY_EMBED, waitFor, type ResultLine } from '../support/stack.js';

/**
 * The API and worker on an S3 bucket (STORE_URL=s3://..., s3rver in its own process, see
 * s3-server.ts), nothing on a shared disk: a job end to end with every shard read by a ranged GET,
 * store writes that fail for a while (retried: by the SDK for a 503, by the shard's retry for a
 * failed commit) or for good (items fail with the reason), cancel and deletion removing the
 * objects, the janitor cleaning up after a crash, and the OpenAI file and batch flow with the
 * official client.
 */
const SHARD_TEXTS = 10;
const PREFIX = 'sw/';
/** The janitor's ORPHAN_GRACE_MS: what a crash left is removed once this old. */
const GRACE_MS = 1500;

function texts(count: number, tag: string): Array<{ id: string; text: string }> {
  return Array.from({ length: count }, (_, i) => ({ id: `${tag}-${i}`, text: `${tag} text ${i}: the worker embeds sentence number ${i} from a bucket` }));
}

const ndjsonBytes = (items: ReadonlyArray<{ id: string; text: string }>) => Buffer.byteLength(`${items.map((item) => JSON.stringify(item)).join('\n')}\n`);

describe('the object store on S3', () => {
  let s3: S3ServerHandle;
  let stack: Stack;
  let base: string;
  let worker: AppProcess | undefined;

  /** The job's objects, as keys relative to its folder. */
  async function jobObjects(id: string, prefix = PREFIX): Promise<string[]> {
    const folder = `${prefix}jobs/${id}/`;
    return (await s3.keys(folder)).map((key) => key.slice(folder.length));
  }

  async function useWorker(env: Record<string, string> = {}): Promise<AppProcess> {
    if (worker) expect(await worker.stop('SIGTERM')).toBe(0);
    worker = await stack.startWorker({ PRELOAD_MODELS: TINY_EMBED, ...env });
    return worker;
  }

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    s3 = await startS3Server();
    stack = await Stack.start({ env: { ...s3.env(PREFIX), SHARD_ATTEMPTS: '3' } });
    base = (await stack.startApi({ SHARD_MAX_TEXTS: String(SHARD_TEXTS), STORE_JANITOR_MS: '200', ORPHAN_GRACE_MS: String(GRACE_MS) })).baseUrl;
  });

  afterAll(async () => {
    await stack?.stop();
    await s3?.stop();
  });

  it('runs a job end to end: exactly once, every shard read by one ranged GET, nothing on a local disk', async () => {
    await useWorker();
    const items = texts(5 * SHARD_TEXTS, 'e');
    const submitted = await postNdjson(base, { task: 'embed', model: TINY_EMBED }, items);
    expect(submitted.status).toBe(202);
    const job = await waitFor(base, submitted.body.id as string, finished);
    expect(job).toMatchObject({ state: 'completed', counts: { total: 50, succeeded: 50, failed: 0 } });
    const t = tally(items, await resultsOf(base, job.id));
    console.log(`[s3] job end to end: ${JSON.stringify(summary(t))}`);
    expect(summary(t)).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: 50, failed: 0 });

    expect(await jobObjects(job.id)).toEqual(['input.ndjson', 'manifest.json', ...[0, 1, 2, 3, 4].map((n) => `results/00000${n}.swr`)]);
    expect(await readdir(stack.resultsDir)).toEqual([]);

    // The worker reads each shard's lines with a ranged GET: the ranges tile the input, no byte read twice.
    const inputPath = `/${s3.bucket}/${PREFIX}jobs/${job.id}/input.ndjson`;
    const reads = (await s3.requests()).filter((r) => r.method === 'GET' && r.path === inputPath);
    expect(reads).toHaveLength(5);
    for (const read of reads) expect(read).toMatchObject({ status: 206, range: expect.stringMatching(/^bytes=\d+-\d+$/), ifMatch: expect.any(String) });
    const ranges = reads.map((r) => r.range!.slice(6).split('-').map(Number) as [number, number]).sort((a, b) => a[0] - b[0]);
    expect(ranges[0]![0]).toBe(0);
    for (let i = 1; i < ranges.length; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1] + 1);
    expect(ranges.at(-1)![1] + 1).toBe(ndjsonBytes(items));
    expect(reads.reduce((sum, r) => sum + r.responseBytes, 0)).toBe(ndjsonBytes(items));
    console.log(`[s3] ${reads.length} ranged GETs moved ${ndjsonBytes(items)} bytes of a ${ndjsonBytes(items)}-byte input`);
  });

  it('a result write the service refuses once (503 SlowDown) is retried by the SDK: no shard retry, nothing lost or duplicated', async () => {
    const w = await useWorker();
    await s3.setFaults([{ method: 'PUT', path: `^/${s3.bucket}/${PREFIX}jobs/[^/]+/results/`, status: 503, code: 'SlowDown', times: 1 }]);
    try {
      const items = texts(3 * SHARD_TEXTS, 's');
      const job = await waitFor(base, (await postJob(base, { task: 'embed', model: TINY_EMBED, inputs: items })).body.id as string, finished);
      expect(job).toMatchObject({ state: 'completed', counts: { total: 30, succeeded: 30, failed: 0 } });
      expect(summary(tally(items, await resultsOf(base, job.id)))).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: 30, failed: 0 });
      const writes = (await s3.requests()).filter((r) => r.method === 'PUT' && r.path.includes(`/jobs/${job.id}/results/`));
      expect(writes.map((r) => r.status).sort()).toEqual([200, 200, 200, 503, 503, 503]);
      expect(w.output()).not.toMatch(/will retry/);
      console.log(`[s3] 503 on each result write: ${writes.length} PUTs, the SDK retried each once`);
    } finally {
      await s3.setFaults([]);
    }
  });

  it('a result write that fails mid-write (ENOSPC, test hook) is retried with the shard; nothing lost or duplicated', async () => {
    const w = await useWorker({ SHARDWISE_FAULT_RESULT_WRITE: '1' });
    const items = texts(3 * SHARD_TEXTS, 'r');
    const job = await waitFor(base, (await postJob(base, { task: 'embed', model: TINY_EMBED, inputs: items })).body.id as string, finished);
    expect(job).toMatchObject({ state: 'completed', counts: { total: 30, succeeded: 30, failed: 0 } });
    const t = tally(items, await resultsOf(base, job.id));
    console.log(`[s3] result write fails once per shard: ${JSON.stringify(summary(t))}`);
    expect(summary(t)).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: 30, failed: 0 });
    expect(w.output().match(/attempt 1\/3 failed, will retry: ENOSPC/g)).toHaveLength(3);
    expect(await jobObjects(job.id)).toEqual(['input.ndjson', 'manifest.json', 'results/000000.swr', 'results/000001.swr', 'results/000002.swr']);
    // An aborted write leaves no multipart upload behind.
    expect((await s3.requests()).filter((r) => r.query.includes('uploads') && r.path.includes(job.id))).toEqual([]);
  });

  it('result writes that fail on every attempt (ENOSPC, test hook) fail the shards, each item naming the reason', async () => {
    await useWorker({ SHARDWISE_FAULT_RESULT_WRITE: '3' });
    const items = texts(2 * SHARD_TEXTS, 'p');
    const job = await waitFor(base, (await postJob(base, { task: 'embed', model: TINY_EMBED, inputs: items })).body.id as string, finished, { timeoutMs: 60_000 });
    expect(job).toMatchObject({ state: 'failed', counts: { total: 20, succeeded: 0, failed: 20 }, shards: { total: 2, done: 2, failed: 2 } });
    const lines = await resultsOf(base, job.id);
    expect(summary(tally(items, lines))).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: 0, failed: 20 });
    for (const line of lines) {
      expect(line).toMatchObject({ error: { code: 'SHARD_FAILED' } });
      expect((line as Extract<ResultLine, { error: unknown }>).error.message).toMatch(/ENOSPC/);
    }
    console.log(`[s3] result writes fail on every attempt: 20 items failed with "${(lines[0] as Extract<ResultLine, { error: unknown }>).error.message}"`);
  });

  it('a bucket that refuses every write (403 AccessDenied) fails the job with the reason', async () => {
    const w = await useWorker();
    await s3.setFaults([{ method: 'PUT', path: `^/${s3.bucket}/${PREFIX}jobs/[^/]+/results/`, status: 403, code: 'AccessDenied' }]);
    try {
      const items = texts(2 * SHARD_TEXTS, 'f');
      const job = await waitFor(base, (await postJob(base, { task: 'embed', model: TINY_EMBED, inputs: items })).body.id as string, finished, { timeoutMs: 60_000 });
      expect(job).toMatchObject({ state: 'failed', counts: { total: 20, succeeded: 0, failed: 20 }, shards: { total: 2, done: 2, failed: 2 } });
      // The reason names the S3 error and what was being written where.
      expect(job.error).toMatch(new RegExp(`^AccessDenied, HTTP 403: .*\\(write "jobs/${job.id}/results/00000[01]\\.swr" in s3://${s3.bucket}/${PREFIX}\\)$`));
      // The SDK does not retry a 403; each shard used its attempts, and its failure record could not be stored either.
      expect(w.output().match(/attempt [12]\/3 failed, will retry: AccessDenied/g)).toHaveLength(4);
      expect(w.output()).toMatch(/could not write the failure of shard/);
      console.log(`[s3] result writes refused for good: job failed, error "${job.error}"`);
    } finally {
      await s3.setFaults([]);
    }
  });

  it('cancel and deletion remove the objects from the bucket', async () => {
    await useWorker();
    const done = await waitFor(base, (await postNdjson(base, { task: 'embed', model: TINY_EMBED }, texts(12, 'd'))).body.id as string, finished);
    expect(await jobObjects(done.id)).toContain('results/000001.swr');
    const deleted = await request(base, `/v1/jobs/${done.id}`, { method: 'DELETE' });
    expect([deleted.status, deleted.body]).toEqual([200, { id: done.id, object: 'job', deleted: true }]);
    expect(await jobObjects(done.id)).toEqual([]);

    // A queued job of a second installation that no worker serves (its own Redis prefix, so its own
    // store prefix too): cancelled, then deleted.
    const idle = await stack.startApi({ ...s3.env('idle/'), REDIS_PREFIX: 'idle', SHARD_MAX_TEXTS: String(SHARD_TEXTS) });
    const queued = (await postNdjson(idle.baseUrl, { task: 'embed', model: TINY_EMBED }, texts(12, 'q'))).body.id as string;
    expect(await jobObjects(queued, 'idle/')).toEqual(['input.ndjson', 'manifest.json']);
    expect((await request(idle.baseUrl, `/v1/jobs/${queued}/cancel`, { method: 'POST' })).body).toMatchObject({ state: 'cancelled' });
    expect((await request(idle.baseUrl, `/v1/jobs/${queued}`, { method: 'DELETE' })).status).toBe(200);
    expect(await jobObjects(queued, 'idle/')).toEqual([]);

    // Deleting a queued job with cancel=true.
    const another = (await postNdjson(idle.baseUrl, { task: 'embed', model: TINY_EMBED }, texts(3, 'a'))).body.id as string;
    // One shard: its input, and no manifest (a one-shard job needs none).
    expect(await jobObjects(another, 'idle/')).toEqual(['input.ndjson']);
    expect((await request(idle.baseUrl, `/v1/jobs/${another}?cancel=true`, { method: 'DELETE' })).status).toBe(200);
    expect(await jobObjects(another, 'idle/')).toEqual([]);

    // An uploaded file.
    const form = new FormData();
    form.set('purpose', 'user_data');
    form.set('file', new Blob(['{"text":"kept for a moment"}\n']), 'corpus.jsonl');
    const file = (await (await fetch(`${base}/v1/files`, { method: 'POST', body: form })).json()) as { id: string };
    expect(await s3.keys(`${PREFIX}files/`)).toContain(`${PREFIX}files/${file.id}`);
    expect((await request(base, `/v1/files/${file.id}`, { method: 'DELETE' })).body).toMatchObject({ id: file.id, deleted: true });
    expect(await s3.keys(`${PREFIX}files/`)).not.toContain(`${PREFIX}files/${file.id}`);
  });

  it('the API janitor removes what a crash left in the bucket: a job folder without a job, an idle multipart upload', async () => {
    const client = s3.client();
    const Bucket = s3.bucket;
    const orphan = `${PREFIX}jobs/job_LeftByACrash0000000000/input.ndjson`;
    await client.send(new PutObjectCommand({ Bucket, Key: orphan, Body: '{"text":"left by a crash"}\n' }));
    const Key = `${PREFIX}files/file-left-by-a-crash`;
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket, Key }));
    await client.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: Buffer.alloc(5 * 1024 * 1024) }));
    const uploads = async () => ((await client.send(new ListMultipartUploadsCommand({ Bucket, Prefix: PREFIX }))).Uploads ?? []).map((u) => u.UploadId);
    expect(await uploads()).toContain(UploadId);
    const deadline = Date.now() + GRACE_MS + 15_000;
    while (((await s3.keys(orphan)).length > 0 || (await uploads()).includes(UploadId)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    expect(await s3.keys(orphan)).toEqual([]);
    expect(await uploads()).not.toContain(UploadId);
  });

  it('runs the OpenAI file and batch flow with the official client', async () => {
    await useWorker();
    const client = new OpenAI({ apiKey: 'unused', baseURL: `${base}/v1`, maxRetries: 0 });
    const requests = Array.from({ length: 25 }, (_, i) => ({
      custom_id: `req-${i}`,
      method: 'POST',
      url: '/v1/embeddings',
      body: { model: TINY_EMBED, input: `batch text ${i}` },
    }));
    const text = `${requests.map((line) => JSON.stringify(line)).join('\n')}\n`;
    const file = await client.files.create({ file: await toFile(Buffer.from(text), 'batch.jsonl'), purpose: 'batch' });
    expect(await (await client.files.content(file.id)).text()).toBe(text);
    expect(await s3.keys(`${PREFIX}files/${file.id}`)).toEqual([`${PREFIX}files/${file.id}`]);

    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    const deadline = Date.now() + 60_000;
    let batch = created;
    while (batch.status !== 'completed' && batch.status !== 'failed' && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 150));
      batch = await client.batches.retrieve(created.id);
    }
    expect(batch).toMatchObject({ status: 'completed', request_counts: { total: 25, completed: 25, failed: 0 } });
    const output = (await (await client.files.content(batch.output_file_id!)).text())
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as { custom_id: string; response: { status_code: number; body: { data: Array<{ embedding: number[] }> } } });
    expect(output.map((line) => line.custom_id)).toEqual(requests.map((r) => r.custom_id));
    for (const line of output) expect(line.response.body.data[0]!.embedding).toHaveLength(32);
    expect(await s3.keys(`${PREFIX}files/${batch.output_file_id}`)).toHaveLength(1);

    await client.files.delete(batch.output_file_id!);
    await client.files.delete(file.id);
    const left = await s3.keys(`${PREFIX}files/`);
    expect(left).not.toContain(`${PREFIX}files/${file.id}`);
    expect(left).not.toContain(`${PREFIX}files/${batch.output_file_id}`);
    console.log(`[s3] OpenAI batch of ${requests.length} requests completed on the bucket`);
  });
});
