import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import type { AppProcess } from '../support/app-process.js';
import { finished, MODEL_DIR, postJob, postNdjson, request, resultsOf, sleep, Stack, summary, tally, TINY_EMBED, waitFor, type ResultLine } from '../support/stack.js';

/**
 * The corpus in the object store (RESULTS_DIR): stored once per upload, run by reference from an
 * uploaded file or a path in the store (several jobs over one corpus, nothing copied), uploaded
 * files pinned while jobs read them, and the janitor that removes what a crash left behind.
 */
const GRACE_MS = 1000;

const corpus = Array.from({ length: 45 }, (_, i) => ({ id: `doc-${i}`, text: `text number ${i}: ${'word '.repeat(i % 7)}` }));
const ndjson = (items: ReadonlyArray<{ id: string; text: string }>) => `${items.map((item) => JSON.stringify(item)).join('\n')}\n`;

async function uploadFile(base: string, text: string, purpose = 'user_data'): Promise<{ status: number; body: Record<string, unknown> }> {
  const form = new FormData();
  form.set('purpose', purpose);
  form.set('file', new Blob([text]), 'corpus.jsonl');
  const response = await fetch(`${base}/v1/files`, { method: 'POST', body: form });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/** Every object the store holds, as paths relative to its root (partial writes excluded). */
async function storeObjects(root: string, dir = ''): Promise<string[]> {
  const entries = await readdir(join(root, dir), { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const entry of entries) {
    if (entry.name.startsWith('.')) continue;
    const path = dir === '' ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory()) out.push(...(await storeObjects(root, path)));
    else out.push(path);
  }
  return out.sort();
}

const embeddingsOf = (lines: ResultLine[]) => lines.map((line) => ('embedding' in line ? line.embedding : null));

describe('the corpus in the object store', () => {
  let stack: Stack;
  let api: AppProcess;
  let base: string;

  /**
   * A second installation (its own prefix and store, a janitor every 200 ms) that no worker serves
   * until `serve()`: what happens before a shard is read can be arranged.
   */
  async function idleInstallation(name: string) {
    const { mkdtemp } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const store = await mkdtemp(join(tmpdir(), `sw-${name}-store-`));
    stack.tempDir(store);
    const env = { REDIS_PREFIX: name, RESULTS_DIR: store, STORE_JANITOR_MS: '200', ORPHAN_GRACE_MS: String(GRACE_MS) };
    const idle = await stack.startApi(env);
    return { store, base: idle.baseUrl, serve: () => stack.startWorker({ ...env, PRELOAD_MODELS: TINY_EMBED }) };
  }

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    stack = await Stack.start({ env: { SHARD_MAX_TEXTS: '10' } });
    api = await stack.startApi({ STORE_JANITOR_MS: '200', ORPHAN_GRACE_MS: String(GRACE_MS) });
    base = api.baseUrl;
    await stack.startWorker({ PRELOAD_MODELS: TINY_EMBED });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('stores an NDJSON upload once, byte for byte, and a JSON body as NDJSON items', async () => {
    const body = ndjson(corpus);
    const job = await postNdjson(base, { task: 'embed', model: TINY_EMBED }, corpus);
    expect(job.status).toBe(202);
    const id = job.body.id as string;
    const objects = await storeObjects(stack.resultsDir);
    expect(objects).toContain(`jobs/${id}/input.ndjson`);
    expect(objects).toContain(`jobs/${id}/manifest.json`);
    const { readFile } = await import('node:fs/promises');
    expect(await readFile(join(stack.resultsDir, 'jobs', id, 'input.ndjson'), 'utf8')).toBe(body);

    const json = await postJob(base, { task: 'embed', model: TINY_EMBED, inputs: ['a', { id: 'b', text: 'é' }] });
    expect(await readFile(join(stack.resultsDir, 'jobs', json.body.id as string, 'input.ndjson'), 'utf8')).toBe('{"id":"0","text":"a"}\n{"id":"b","text":"é"}\n');
    await waitFor(base, id, finished);
  });

  it('runs several jobs over one uploaded file by reference: no copy, same results as a body upload', async () => {
    const file = await uploadFile(base, ndjson(corpus));
    expect(file.status).toBe(200);
    expect(file.body).toMatchObject({ purpose: 'user_data', bytes: Buffer.byteLength(ndjson(corpus)) });
    const fileId = file.body.id as string;

    const byBody = await postNdjson(base, { task: 'embed', model: TINY_EMBED }, corpus);
    const first = await postJob(base, { task: 'embed', model: TINY_EMBED, input_file_id: fileId });
    const second = await postJob(base, { task: 'embed', model: TINY_EMBED, input_file_id: fileId, options: { normalize: false } });
    expect([byBody.status, first.status, second.status]).toEqual([202, 202, 202]);
    expect(first.body).toMatchObject({ counts: { total: corpus.length }, shards: { total: 5 } });

    const ids = [byBody, first, second].map((reply) => reply.body.id as string);
    for (const id of ids) expect((await waitFor(base, id, finished)).state).toBe('completed');
    const [reference, fromFile, unnormalized] = await Promise.all(ids.map((id) => resultsOf(base, id)));
    expect(summary(tally(corpus, fromFile!))).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: corpus.length, failed: 0 });
    expect(embeddingsOf(fromFile!)).toEqual(embeddingsOf(reference!));
    expect(embeddingsOf(unnormalized!)).not.toEqual(embeddingsOf(reference!));

    // The file's bytes are the jobs' only copy of the corpus.
    const objects = await storeObjects(stack.resultsDir);
    expect(objects).toContain(`files/${fileId}`);
    for (const id of ids.slice(1)) {
      expect(objects.filter((key) => key.startsWith(`jobs/${id}/`) && !key.includes('/results/'))).toEqual([`jobs/${id}/manifest.json`]);
    }
  });

  it('runs a job on a path inside the store, and refuses paths it may not read', async () => {
    await mkdir(join(stack.resultsDir, 'corpora', '2026'), { recursive: true });
    await writeFile(join(stack.resultsDir, 'corpora', '2026', 'docs.jsonl'), ndjson(corpus.slice(0, 12)));
    const job = await postJob(base, { task: 'embed', model: TINY_EMBED, input_object: 'corpora/2026/docs.jsonl' });
    expect(job.status).toBe(202);
    const done = await waitFor(base, job.body.id as string, finished);
    expect(done.counts).toMatchObject({ total: 12, succeeded: 12, failed: 0 });

    const refusals: Array<[Record<string, unknown>, number, string, string]> = [
      [{ input_object: '../outside.jsonl' }, 400, 'INVALID_INPUT', 'input_object'],
      [{ input_object: '/etc/passwd' }, 400, 'INVALID_INPUT', 'input_object'],
      [{ input_object: `jobs/${job.body.id as string}/input.ndjson` }, 400, 'INVALID_INPUT', 'input_object'],
      [{ input_object: 'corpora/missing.jsonl' }, 404, 'INPUT_NOT_FOUND', 'input_object'],
      [{ input_file_id: 'file-AAAAAAAAAAAAAAAAAAAAAAAA' }, 404, 'INPUT_NOT_FOUND', 'input_file_id'],
      [{ input_object: 'corpora/2026/docs.jsonl', inputs: ['a'] }, 400, 'INVALID_INPUT', 'input_object'],
    ];
    for (const [corpusField, status, code, field] of refusals) {
      const reply = await postJob(base, { task: 'embed', model: TINY_EMBED, ...corpusField });
      const error = (reply.body as { error: { code: string; field?: string } }).error;
      expect([reply.status, error.code, error.field], JSON.stringify(corpusField)).toEqual([status, code, field]);
    }
  });

  it('names the line of a bad item in a referenced corpus, and creates no job', async () => {
    const lines = ndjson(corpus.slice(0, 5)).split('\n');
    lines[2] = '{"id":"x","text":';
    const file = await uploadFile(base, lines.join('\n'));
    const before = await request<{ total: number }>(base, '/v1/jobs');
    const reply = await postJob(base, { task: 'embed', model: TINY_EMBED, input_file_id: file.body.id });
    expect(reply.status).toBe(400);
    expect((reply.body as { error: { code: string; line: number } }).error).toMatchObject({ code: 'INVALID_JSON', line: 3 });
    expect((await request<{ total: number }>(base, '/v1/jobs')).body.total).toBe(before.body.total);
  });

  it('keeps a deleted file readable for the job that runs on it, then removes its bytes', async () => {
    const idle = await idleInstallation('pinned');
    const file = await uploadFile(idle.base, ndjson(corpus));
    const fileId = file.body.id as string;
    const job = await postJob(idle.base, { task: 'embed', model: TINY_EMBED, input_file_id: fileId });
    expect(job.status).toBe(202);
    // Deleted before any shard was read: gone for its tenant at once, its bytes kept for the job.
    expect((await request(idle.base, `/v1/files/${fileId}`, { method: 'DELETE' })).status).toBe(200);
    expect((await request(idle.base, `/v1/files/${fileId}`)).status).toBe(404);
    await sleep(3 * GRACE_MS);
    expect(await storeObjects(idle.store)).toContain(`files/${fileId}`);

    await idle.serve();
    const done = await waitFor(idle.base, job.body.id as string, finished);
    expect(done.counts).toMatchObject({ total: corpus.length, succeeded: corpus.length, failed: 0 });
    // The janitor notices that the last user finished and deletes the bytes.
    const deadline = Date.now() + 10_000;
    while ((await storeObjects(idle.store)).includes(`files/${fileId}`) && Date.now() < deadline) await sleep(100);
    expect(await storeObjects(idle.store)).not.toContain(`files/${fileId}`);
  });

  it('fails the items of a job whose referenced object was replaced before they were read, naming the object', async () => {
    const idle = await idleInstallation('changing');
    const path = join(idle.store, 'corpora', 'changing.jsonl');
    await mkdir(join(idle.store, 'corpora'), { recursive: true });
    await writeFile(path, ndjson(corpus.slice(0, 30)));
    const job = await postJob(idle.base, { task: 'embed', model: TINY_EMBED, input_object: 'corpora/changing.jsonl' });
    expect(job.status).toBe(202);
    await writeFile(`${path}.new`, ndjson(corpus.slice(0, 30).reverse()));
    const { rename } = await import('node:fs/promises');
    await rename(`${path}.new`, path);

    await idle.serve();
    const done = await waitFor(idle.base, job.body.id as string, finished);
    expect(done).toMatchObject({ state: 'failed', counts: { total: 30, succeeded: 0, failed: 30 }, shards: { total: 3, failed: 3 } });
    const lines = await resultsOf(idle.base, done.id);
    expect(lines.map((line) => line.index)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    for (const line of lines) {
      // The input cannot be read as it was, so its ids are unknown; the index names the item.
      expect(line).toMatchObject({ id: null, error: { code: 'SHARD_FAILED' } });
      expect((line as { error: { message: string } }).error.message).toMatch(/corpora\/changing\.jsonl.*replaced/);
    }
  });

  it('janitor: removes the objects of jobs that have no record and old partial writes, keeps everything else', async () => {
    const old = new Date(Date.now() - 10 * GRACE_MS);
    const orphan = 'job_OrphanOrphanOrphanOrph';
    await mkdir(join(stack.resultsDir, 'jobs', orphan, 'results'), { recursive: true });
    for (const name of ['input.ndjson', 'manifest.json', 'results/000000.swr']) {
      await writeFile(join(stack.resultsDir, 'jobs', orphan, name), 'x');
      await utimes(join(stack.resultsDir, 'jobs', orphan, name), old, old);
    }
    // A fresh one, as when an API has just stored an upload and not yet created its record.
    const young = 'job_YoungYoungYoungYoungYo';
    await mkdir(join(stack.resultsDir, 'jobs', young), { recursive: true });
    await writeFile(join(stack.resultsDir, 'jobs', young, 'input.ndjson'), 'x');
    await mkdir(join(stack.resultsDir, '.partial'), { recursive: true });
    await writeFile(join(stack.resultsDir, '.partial', 'left-by-a-crash'), 'x');
    await utimes(join(stack.resultsDir, '.partial', 'left-by-a-crash'), old, old);
    const kept = await storeObjects(stack.resultsDir);

    const deadline = Date.now() + 10_000;
    while ((await readdir(join(stack.resultsDir, 'jobs'))).includes(orphan) && Date.now() < deadline) await sleep(100);
    expect(await readdir(join(stack.resultsDir, 'jobs'))).not.toContain(orphan);
    expect(await readdir(join(stack.resultsDir, '.partial'))).not.toContain('left-by-a-crash');
    const after = await storeObjects(stack.resultsDir);
    expect(after).toEqual(kept.filter((key) => !key.startsWith(`jobs/${orphan}/`)));
    expect(after).toContain(`jobs/${young}/input.ndjson`);
    await rm(join(stack.resultsDir, 'jobs', young), { recursive: true });
  });
});
