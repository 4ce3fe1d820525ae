import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import type { AppProcess } from '../support/app-process.js';
import { DIST } from '../support/dist.js';
import {
  finished,
  MODEL_DIR,
  newApiKey as newKey,
  postJob,
  postNdjson,
  request,
  resultsOf,
  scanKeys,
  sha256Hex as sha256,
  sleep,
  Stack,
  summary,
  tally,
  TINY_EMBED,
  waitFor,
} from '../support/stack.js';

/**
 * API keys and tenants (the tenancy contract in docs/security-and-reliability.md): keys stored as
 * SHA-256 only, 401 with WWW-Authenticate, tenant isolation (another tenant's job is a 404 for every
 * route), per-tenant rate limits shared by API replicas, per-tenant unfinished-job limits, the
 * queue-wide backlog budget, and no key or text in any log.
 */
const SECRET_TEXT = 'zebra-quokka-7731 confidential memo about the merger';
const BUDGET = 100;
const TENANT_BUDGET = 60;

describe('API keys, tenant isolation and per-tenant limits', () => {
  let stack: Stack;
  let a: AppProcess;
  let b: AppProcess;
  let keysFile: string;
  let acme: string;
  const globex = newKey();
  const limited = newKey();
  const metered = newKey();
  const initech = newKey();
  const env: Record<string, string> = { DEFAULT_MODEL_EMBED: TINY_EMBED, SHARD_MAX_TEXTS: '8', LOG_LEVEL: 'verbose' };

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    // acme's key comes from the shipped tool, exactly as an operator would make it.
    const printed = execFileSync(process.execPath, [join(DIST, 'scripts/keys-create.js'), '--tenant', 'acme'], { encoding: 'utf8' });
    acme = /^\s+(sw_[A-Za-z0-9_-]{43})$/m.exec(printed)?.[1] as string;
    const entry = JSON.parse(/^\s+(\{"tenant":"acme".*\})$/m.exec(printed)?.[1] as string) as { tenant: string; key_sha256: string };
    expect(entry.key_sha256).toBe(sha256(acme));
    expect(printed).toContain(`acme:${sha256(acme)}`);

    const dir = await mkdtemp(join(tmpdir(), 'sw-keys-'));
    keysFile = join(dir, 'keys.json');
    await writeFile(
      keysFile,
      JSON.stringify([
        entry,
        { tenant: 'globex', key_sha256: sha256(globex) },
        { tenant: 'limited', key_sha256: sha256(limited), max_concurrent_jobs: 1 },
        { tenant: 'metered', key_sha256: sha256(metered), rate_per_second: 2 },
      ]),
    );
    stack = await Stack.start({ env: { ...env, API_KEYS_FILE: keysFile, API_KEYS: `initech:${sha256(initech)}` } });
    stack.tempDir(dir);
    a = await stack.startApi();
    // A second replica on the same Redis, with small budgets of queued texts (all tenants, and per tenant).
    b = await stack.startApi({ ADMISSION_MAX_QUEUED_TEXTS: String(BUDGET), TENANT_MAX_QUEUED_TEXTS: String(TENANT_BUDGET) });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('keys:create refuses a tenant name that cannot be a Redis key part', () => {
    let status = 0;
    try {
      execFileSync(process.execPath, [join(DIST, 'scripts/keys-create.js'), '--tenant', 'a:b'], { stdio: 'pipe' });
    } catch (error) {
      status = (error as { status: number }).status;
    }
    expect(status).toBe(2);
  });

  it('answers 401 UNAUTHORIZED with WWW-Authenticate for a missing, malformed or unknown key, on every route', async () => {
    const attempts: Array<[string, string | undefined]> = [
      ['none', undefined],
      ['basic', 'Basic YWNtZTpzZWNyZXQ='],
      ['empty bearer', 'Bearer '],
      ['unknown', `Bearer ${newKey()}`],
      ['hash instead of key', `Bearer ${sha256(acme)}`],
      ['key with a suffix', `Bearer ${acme}x`],
      ['two tokens', `Bearer ${acme} ${acme}`],
    ];
    const routes: Array<[string, RequestInit]> = [
      ['/v1/jobs', {}],
      ['/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ task: 'embed', inputs: ['x'] }) }],
      ['/v1/jobs?task=embed', { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body: '{"text":"x"}\n'.repeat(50) }],
      ['/v1/jobs/job_AAAAAAAAAAAAAAAAAAAAAA', {}],
      ['/v1/jobs/job_AAAAAAAAAAAAAAAAAAAAAA/results', {}],
      ['/v1/jobs/job_AAAAAAAAAAAAAAAAAAAAAA/cancel', { method: 'POST' }],
      ['/v1/models', {}],
      // Refused before the body is parsed: a malformed body is a 401 too, not a 400.
      ['/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"task":' }],
      ['/v1/embeddings', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"model":' }],
      ['/v1/files', {}],
      ['/docs/openapi.json', {}],
      ['/docs', {}],
      ['/docs-json', {}],
      ['/docs/swagger-ui-init.js', {}],
      ['/v1/no-such-route', {}],
      ['/V1/jobs', {}],
      ['//v1/jobs', {}],
      ['/v1/./jobs', {}],
      ['/healthz/../v1/jobs', {}],
    ];
    for (const [name, header] of attempts) {
      for (const [path, init] of routes) {
        const reply = await request(a.baseUrl, path, { ...init, headers: { ...(init.headers as Record<string, string>), ...(header ? { authorization: header } : {}) } });
        expect(reply.status, `${name} ${path}`).toBe(401);
        expect(reply.headers.get('www-authenticate'), path).toMatch(/^Bearer/);
        expect((reply.body as { error: { code: string } }).error.code).toBe('UNAUTHORIZED');
      }
    }
    // Raw paths a client library would normalize away.
    for (const path of ['/v1/jobs/../jobs', '/v1//jobs', '/metrics/../v1/jobs']) {
      const status = await new Promise<number>((done, fail) => {
        const req = httpRequest(`${a.baseUrl}${path}`, { path }, (res) => {
          res.resume();
          done(res.statusCode ?? 0);
        });
        req.on('error', fail);
        req.end();
      });
      expect(status, path).toBe(401);
    }
    expect(await scanKeys(stack.client(), `${stack.prefix}:job:*`)).toEqual([]);
    // Probes and scraping stay open.
    for (const path of ['/healthz', '/readyz', '/metrics']) expect((await request(a.baseUrl, path)).status, path).toBe(200);
  });

  it('keeps each tenant to its own jobs: another tenant gets 404 on every route and cannot cancel', async () => {
    const submitted = await postJob(a.baseUrl, { task: 'embed', inputs: [SECRET_TEXT, 'second'] }, acme);
    expect(submitted.status).toBe(202);
    const id = submitted.body.id as string;
    expect((await request(a.baseUrl, `/v1/jobs/${id}`, { key: acme })).status).toBe(200);
    // The API_KEYS (env list) tenant works like the file's.
    expect((await request(a.baseUrl, '/v1/jobs', { key: initech })).status).toBe(200);

    for (const [key, who] of [
      [globex, 'globex'],
      [initech, 'initech'],
    ] as const) {
      for (const [path, method] of [
        [`/v1/jobs/${id}`, 'GET'],
        [`/v1/jobs/${id}/results?partial=true`, 'GET'],
        [`/v1/jobs/${id}/errors?partial=true`, 'GET'],
        [`/v1/jobs/${id}/results?format=f32&partial=true`, 'GET'],
        [`/v1/jobs/${id}/cancel`, 'POST'],
      ]) {
        const reply = await request(b.baseUrl, path, { key, method });
        expect(reply.status, `${who} ${method} ${path}`).toBe(404);
        expect((reply.body as { error: { code: string } }).error.code).toBe('JOB_NOT_FOUND');
      }
      const list = await request<{ data: unknown[]; total: number }>(a.baseUrl, '/v1/jobs', { key });
      expect(list.body.total).toBe(0);
    }
    const own = await request<{ data: Array<{ id: string; state: string }> }>(a.baseUrl, '/v1/jobs', { key: acme });
    expect(own.body.data.map((j) => [j.id, j.state])).toEqual([[id, 'queued']]);
  });

  it('rate-limits a tenant with one token bucket in Redis, shared by both replicas: 429 RATE_LIMITED with Retry-After', async () => {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    const started = Date.now();
    for (let i = 0; i < 12; i++) {
      const reply = await request((i % 2 === 0 ? a : b).baseUrl, '/v1/jobs', { key: metered });
      statuses.push(reply.status);
      if (reply.status === 429) {
        expect((reply.body as { error: { code: string } }).error.code).toBe('RATE_LIMITED');
        retryAfter = reply.headers.get('retry-after');
      }
    }
    const elapsed = Date.now() - started;
    const allowed = statuses.filter((s) => s === 200).length;
    console.log(`[security] rate limit 2/s, burst 4, 12 requests over two replicas: ${allowed} allowed, ${12 - allowed} refused`);
    // The bucket holds 4 (2 x rate) and refills 2 per second, whichever replica serves the request.
    expect(allowed).toBeGreaterThanOrEqual(4);
    expect(allowed).toBeLessThanOrEqual(4 + Math.ceil((elapsed / 1000) * 2));
    expect(statuses.filter((s) => s === 429).length).toBe(12 - allowed);
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    // Other tenants are not affected, and the bucket refills.
    expect((await request(a.baseUrl, '/v1/jobs', { key: globex })).status).toBe(200);
    await sleep(Number(retryAfter) * 1000);
    expect((await request(b.baseUrl, '/v1/jobs', { key: metered })).status).toBe(200);
  });

  it('limits unfinished jobs per tenant: 429 TOO_MANY_JOBS before the body is read; a finished job frees the slot', async () => {
    const first = await postJob(a.baseUrl, { task: 'embed', inputs: ['one'] }, limited);
    expect(first.status).toBe(202);
    const second = await postJob(b.baseUrl, { task: 'embed', inputs: ['two'] }, limited);
    expect(second.status).toBe(429);
    expect((second.body as { error: { code: string } }).error.code).toBe('TOO_MANY_JOBS');
    expect(Number(second.headers.get('retry-after'))).toBeGreaterThan(0);
    const streamed = await postNdjson(
      a.baseUrl,
      { task: 'embed' },
      Array.from({ length: 40 }, (_, i) => ({ text: `t${i}` })),
      { key: limited },
    );
    expect(streamed.status).toBe(429);
    // Another tenant is not limited by it.
    expect((await postJob(a.baseUrl, { task: 'embed', inputs: ['globex'] }, globex)).status).toBe(202);

    expect((await request(a.baseUrl, `/v1/jobs/${first.body.id as string}/cancel`, { key: limited, method: 'POST' })).status).toBe(200);
    expect((await postJob(b.baseUrl, { task: 'embed', inputs: ['three'] }, limited)).status).toBe(202);
  });

  it('admits by queued texts: a job larger than the budget runs on an idle system; then 429 BACKLOG_FULL (global and per tenant) with a Retry-After, until the backlog drains', async () => {
    const redis = stack.client();
    const stats = `${stack.prefix}:stats`;
    const queued = async () => Number((await redis.hget(stats, 'backlog:texts')) ?? 0);
    let worker = await stack.startWorker({ PRELOAD_MODELS: TINY_EMBED, LOG_LEVEL: 'verbose' });
    const deadline = Date.now() + 30_000;
    while ((await queued()) !== 0 && Date.now() < deadline) await sleep(100);
    expect(await queued()).toBe(0);
    expect(await worker.stop('SIGTERM')).toBe(0);

    // Idle: a job twice the budget is admitted rather than refused for its size.
    const big = Array.from({ length: 2 * BUDGET }, (_, i) => ({ id: `big${i}`, text: `a text of the big job, number ${i}` }));
    const admitted = await postNdjson(b.baseUrl, { task: 'embed' }, big, { key: globex });
    expect(admitted.status).toBe(202);
    expect(await queued()).toBe(2 * BUDGET);

    // Now the backlog is over the budget: B refuses even one text, before reading the body, and says when to retry.
    const objectsBefore = await readdir(join(stack.resultsDir, 'jobs'));
    for (const refused of [await postJob(b.baseUrl, { task: 'embed', inputs: ['small'] }, acme), await postNdjson(b.baseUrl, { task: 'embed' }, big.slice(0, 5), { key: acme })]) {
      expect(refused.status).toBe(429);
      const error = (refused.body as { error: { code: string; message: string } }).error;
      expect(error.code).toBe('BACKLOG_FULL');
      expect(error.message).toContain('ADMISSION_MAX_QUEUED_TEXTS');
      const retryAfter = Number(refused.headers.get('retry-after'));
      expect(Number.isInteger(retryAfter) && retryAfter >= 1 && retryAfter <= 3600, String(retryAfter)).toBe(true);
    }
    expect(await readdir(join(stack.resultsDir, 'jobs'))).toEqual(objectsBefore);
    // Replica A has no budget.
    expect((await postJob(a.baseUrl, { task: 'embed', inputs: ['small'] }, acme)).status).toBe(202);

    // Workers drain it: the job completes exactly once, the backlog returns to zero, and B admits again.
    worker = await stack.startWorker({ PRELOAD_MODELS: TINY_EMBED, LOG_LEVEL: 'verbose' });
    const job = await waitFor(b.baseUrl, admitted.body.id as string, finished, { key: globex });
    expect(job.state).toBe('completed');
    expect(summary(tally(big, await resultsOf(b.baseUrl, job.id, { key: globex })))).toMatchObject({ lost: 0, duplicated: 0, misplaced: 0 });
    while ((await queued()) !== 0 && Date.now() < deadline + 60_000) await sleep(100);
    expect(await queued()).toBe(0);
    expect((await postJob(b.baseUrl, { task: 'embed', inputs: ['room again'] }, acme)).status).toBe(202);

    // Per tenant: globex fills its own budget; another tenant still gets in under the global one.
    expect(await worker.stop('SIGTERM')).toBe(0);
    while ((await queued()) !== 0 && Date.now() < deadline + 90_000) await sleep(100);
    const first = await postJob(b.baseUrl, { task: 'embed', inputs: big.slice(0, 50) }, globex);
    expect(first.status).toBe(202);
    const over = await postJob(b.baseUrl, { task: 'embed', inputs: big.slice(50, 70) }, globex);
    expect(over.status).toBe(429);
    expect((over.body as { error: { message: string } }).error.message).toContain('TENANT_MAX_QUEUED_TEXTS');
    expect((await postJob(b.baseUrl, { task: 'embed', inputs: big.slice(50, 70) }, acme)).status).toBe(202);
    const counts = await redis.hgetall(stats);
    expect(Number(counts['backlog:texts:globex'])).toBe(50);
    expect(Number(counts['backlog:texts:acme'])).toBe(20);

    worker = await stack.startWorker({ PRELOAD_MODELS: TINY_EMBED, LOG_LEVEL: 'verbose' });
    for (const [id, key] of [[first.body.id as string, globex]] as const) expect((await waitFor(b.baseUrl, id, finished, { key })).state).toBe('completed');
    while ((await queued()) !== 0 && Date.now() < deadline + 120_000) await sleep(100);
    const after = await redis.hgetall(stats);
    for (const tenant of ['acme', 'globex', 'limited']) {
      expect(Number(after[`active:${tenant}`] ?? 0), tenant).toBe(0);
      expect(Number(after[`backlog:texts:${tenant}`] ?? 0), tenant).toBe(0);
    }
  });

  it('writes no API key and no submitted text to any log (API replicas and worker)', async () => {
    // A job with a distinctive text runs to the end; refused requests carry the text and keys too.
    const submitted = await postJob(a.baseUrl, { task: 'embed', inputs: [SECRET_TEXT], metadata: { note: SECRET_TEXT } }, acme);
    await waitFor(a.baseUrl, submitted.body.id as string, finished, { key: acme });
    await request(a.baseUrl, '/v1/jobs', { method: 'POST', key: acme, headers: { 'content-type': 'application/json' }, body: `{"task":"embed","inputs":["${SECRET_TEXT}"` });
    await postJob(a.baseUrl, { task: 'embed', model: SECRET_TEXT, inputs: [SECRET_TEXT] }, acme);
    await request(b.baseUrl, '/v1/jobs', { headers: { authorization: `Bearer ${acme}x` } });
    const logs = stack.logs();
    expect(logs.length).toBeGreaterThan(1000);
    for (const secret of [acme, globex, limited, metered, initech, 'zebra-quokka-7731']) expect(logs.includes(secret), secret.slice(0, 12)).toBe(false);
  });

  it('refuses to boot on a bad key configuration, without echoing what was given', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sw-badkeys-'));
    stack.tempDir(dir);
    const file = join(dir, 'keys.json');
    await writeFile(file, JSON.stringify([{ tenant: 'acme', key_sha256: acme }]));
    for (const bad of [
      { API_KEYS_FILE: file, API_KEYS: '' },
      { API_KEYS_FILE: '', API_KEYS: `acme:${acme}` },
      { API_KEYS_FILE: join(dir, 'missing.json'), API_KEYS: '' },
    ]) {
      const error = await stack.startApi(bad).then(
        () => null,
        (e: Error) => e,
      );
      expect(error?.message).toMatch(/exited with 1/);
      expect(error?.message).toMatch(/API_KEYS/);
      expect(error?.message.includes(acme)).toBe(false);
    }
  });
});
