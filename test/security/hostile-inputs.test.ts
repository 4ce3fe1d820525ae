import { cp, mkdir, mkdtemp, readdir, symlink, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import type { AppProcess } from '../support/app-process.js';
import { finished, MODEL_DIR, postJob, request, resultsOf, Stack, summary, tally, TINY_EMBED, waitFor } from '../support/stack.js';

/**
 * Hostile input, each answered with a clean 4xx (never a 5xx, a crash or a hang) and nothing else
 * affected: after the suite the API is the same process, earlier results are byte-for-byte the same,
 * no request left a job behind (no record, and no object in the store: every job folder there belongs
 * to an accepted job), and a normal job still completes exactly once.
 */
const MAX_JSON = 1024 * 1024;
const MAX_LINE = 256 * 1024;
const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`;

interface Outcome {
  name: string;
  status: number;
  code?: string;
}

/** One raw HTTP/1.1 exchange: what a library would refuse to send (bad bytes, raw paths, smuggling). */
async function raw(port: number, head: string, body: Buffer | string = ''): Promise<{ status: number; text: string }> {
  return new Promise((done, fail) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const reply = () => {
      const text = Buffer.concat(chunks).toString('latin1');
      return { status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0), text };
    };
    socket.on('data', (c: Buffer) => chunks.push(c));
    // A server that refuses a request closes the connection; bytes of ours still in flight then
    // make the peer reset it. The answer already read is what counts; a reset before any answer fails.
    socket.on('error', (error: NodeJS.ErrnoException) => {
      if ((error.code === 'ECONNRESET' || error.code === 'EPIPE') && reply().status > 0) done(reply());
      else fail(error);
    });
    socket.on('close', () => done(reply()));
    // One write, so the whole request is in the server's hands before it parses and answers.
    socket.end(Buffer.concat([Buffer.from(head.replace(/\n/g, '\r\n'), 'latin1'), Buffer.from(body)]));
  });
}

describe('hostile inputs', () => {
  let stack: Stack;
  let api: AppProcess;
  let base: string;
  let port: number;
  let modelDir: string;
  let earlierId: string;
  let earlierResults: string;
  const outcomes: Outcome[] = [];

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    // A private MODEL_DIR: the real model, a symlink out to /etc, and a model folder outside it.
    const root = await mkdtemp(join(tmpdir(), 'sw-hostile-'));
    modelDir = join(root, 'models');
    await cp(join(MODEL_DIR, TINY_EMBED), join(modelDir, TINY_EMBED), { recursive: true });
    await symlink('/etc', join(modelDir, 'evil'));
    await mkdir(join(root, 'outside'), { recursive: true });
    await writeFile(join(root, 'outside', 'config.json'), JSON.stringify({ model_type: 'bert', hidden_size: 8, architectures: ['BertModel'] }));
    await symlink(join(root, 'outside'), join(modelDir, 'outside-link'));
    stack = await Stack.start({
      modelDir,
      env: { DEFAULT_MODEL_EMBED: TINY_EMBED, MAX_JSON_BODY_BYTES: String(MAX_JSON), MAX_LINE_BYTES: String(MAX_LINE), SHARD_MAX_TEXTS: '8' },
    });
    stack.tempDir(root);
    api = await stack.startApi();
    base = api.baseUrl;
    port = Number(new URL(base).port);
    await stack.startWorker({ PRELOAD_MODELS: TINY_EMBED });

    const earlier = await postJob(base, { task: 'embed', inputs: Array.from({ length: 20 }, (_, i) => `earlier text ${i}`) });
    earlierId = earlier.body.id as string;
    await waitFor(base, earlierId, finished);
    earlierResults = await (await fetch(`${base}/v1/jobs/${earlierId}/results`)).text();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function expectRefused(name: string, reply: Promise<{ status: number; body?: unknown; text?: string }>, status: number | RegExp, code?: string): Promise<void> {
    const r = await reply;
    const body = r.body as { error?: { code?: string } } | undefined;
    outcomes.push({ name, status: r.status, code: body?.error?.code });
    if (typeof status === 'number') expect(r.status, name).toBe(status);
    else expect(String(r.status), name).toMatch(status);
    if (code !== undefined) expect(body?.error?.code, name).toBe(code);
    // Nothing from outside the stores ever comes back.
    expect(JSON.stringify(r.body ?? r.text ?? '')).not.toContain('root:x:0:0');
  }

  const json = (body: string | Buffer, headers: Record<string, string> = {}) =>
    request(base, '/v1/jobs', { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });
  const ndjson = (query: string, body: string | Buffer) => request(base, `/v1/jobs?${query}`, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' }, body });

  it('oversized headers, URLs and bodies: 431 and 413', async () => {
    await expectRefused('20 KB header', raw(port, `GET /v1/jobs HTTP/1.1\nHost: x\nX-Big: ${'a'.repeat(20_000)}\n\n`), 431);
    await expectRefused('20 KB URL', raw(port, `GET /v1/jobs?${'q='.repeat(10_000)} HTTP/1.1\nHost: x\n\n`), 431);
    await expectRefused('JSON body over MAX_JSON_BODY_BYTES', json(JSON.stringify({ task: 'embed', inputs: ['x'.repeat(MAX_JSON)] })), 413, 'BODY_TOO_LARGE');
    // A gzip bomb: 16 MB of JSON in a few KB; the limit holds for the inflated size.
    const bomb = gzipSync(Buffer.from(`{"task":"embed","inputs":["${'0'.repeat(16 * 1024 * 1024)}"]}`));
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expectRefused('gzip bomb', json(bomb, { 'content-encoding': 'gzip' }), 413, 'BODY_TOO_LARGE');
    await expectRefused('NDJSON line over MAX_LINE_BYTES', ndjson('task=embed', `{"text":"${'y'.repeat(MAX_LINE + 10)}"}\n`), 413, 'LINE_TOO_LONG');
  });

  it('deeply nested JSON (100k levels) in the body, in fields and in an NDJSON line: 400, no stack overflow', async () => {
    const deep = nested(100_000);
    await expectRefused('nested body', json(deep), 400, 'INVALID_INPUT');
    await expectRefused('nested inputs', json(`{"task":"embed","inputs":[${deep}]}`), 400, 'INVALID_INPUT');
    await expectRefused('nested metadata', json(`{"task":"embed","inputs":["a"],"metadata":{"a":${deep}}}`), 400, 'INVALID_INPUT');
    await expectRefused('nested option', json(`{"task":"embed","inputs":["a"],"options":{"pooling":${deep}}}`), 400, 'INVALID_OPTION');
    await expectRefused('nested id', json(`{"task":"embed","inputs":[{"text":"a","id":${deep}}]}`), 400, 'INVALID_INPUT');
    await expectRefused('nested task', json(`{"task":${deep},"inputs":["a"]}`), 400, 'UNKNOWN_TASK');
    await expectRefused('nested NDJSON line', ndjson('task=embed', `{"text":"ok"}\n${deep}\n`), 400, 'INVALID_INPUT');
    await expectRefused('nested NDJSON text', ndjson('task=embed', `{"text":${deep}}\n`), 400, 'MISSING_TEXT');
    await expectRefused('nested metadata in the query', ndjson(`task=embed&metadata=${encodeURIComponent(`{"a":${nested(2000)}}`)}`, '{"text":"a"}\n'), 400, 'INVALID_INPUT');
  });

  it('NUL bytes: a text may hold them (it is data); ids, job ids and model names may not', async () => {
    const accepted = await postJob(base, {
      task: 'embed',
      inputs: [
        { id: 'nul', text: 'before\u0000after\u0000' },
        { id: 'plain', text: 'plain' },
      ],
    });
    expect(accepted.status).toBe(202);
    const job = await waitFor(base, accepted.body.id as string, finished);
    expect(job.state).toBe('completed');
    const lines = await resultsOf(base, job.id);
    expect(summary(tally([{ id: 'nul' }, { id: 'plain' }], lines))).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: 2, failed: 0 });

    await expectRefused('NUL in an id', json(JSON.stringify({ task: 'embed', inputs: [{ id: 'a\u0000b', text: 'x' }] })), 400, 'INVALID_INPUT');
    await expectRefused('newline in an id (NDJSON)', ndjson('task=embed', '{"id":"a\\nb","text":"x"}\n'), 400, 'INVALID_INPUT');
    await expectRefused('NUL in a job id', request(base, '/v1/jobs/job_%00AAAAAAAAAAAAAAAAAAAAA'), 404, 'JOB_NOT_FOUND');
    await expectRefused('NUL in a job id (results)', request(base, `/v1/jobs/${earlierId}%00/results`), 404, 'JOB_NOT_FOUND');
    await expectRefused('NUL in a model name', json(JSON.stringify({ task: 'embed', model: `${TINY_EMBED}\u0000.json`, inputs: ['x'] })), 400, 'INVALID_MODEL');
  });

  it('invalid UTF-8 and lone surrogates: 400 INVALID_UTF8', async () => {
    await expectRefused(
      '0xFF in an NDJSON line',
      ndjson('task=embed', Buffer.concat([Buffer.from('{"text":"ok"}\n{"text":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}\n')])),
      400,
      'INVALID_UTF8',
    );
    await expectRefused(
      'overlong "/" in an NDJSON line',
      ndjson('task=embed', Buffer.concat([Buffer.from('{"text":"..'), Buffer.from([0xc0, 0xaf]), Buffer.from('etc"}\n')])),
      400,
      'INVALID_UTF8',
    );
    await expectRefused(
      '0xC3 alone in a JSON body',
      json(Buffer.concat([Buffer.from('{"task":"embed","inputs":["a'), Buffer.from([0xc3]), Buffer.from('"]}')])),
      400,
      'INVALID_UTF8',
    );
    await expectRefused('lone surrogate in a text', json('{"task":"embed","inputs":[{"text":"a\\ud800b"}]}'), 400, 'INVALID_UTF8');
    await expectRefused('lone surrogate in an NDJSON text', ndjson('task=embed', '{"text":"\\udc00"}\n'), 400, 'INVALID_UTF8');
    await expectRefused('lone surrogate in an id', json('{"task":"embed","inputs":[{"id":"\\ud800","text":"a"}]}'), 400, 'INVALID_INPUT');
  });

  it('path traversal in job ids: 404, never a file', async () => {
    for (const path of [
      '/v1/jobs/..%2F..%2Fetc',
      '/v1/jobs/..%2F..%2F..%2F..%2Fetc%2Fpasswd',
      '/v1/jobs/..%2F..%2F..%2F..%2Fetc%2Fpasswd/results',
      '/v1/jobs/%2e%2e%2f%2e%2e%2fetc/errors',
      '/v1/jobs/%252e%252e%252fetc/results',
      '/v1/jobs/..%5C..%5Cetc%5Cpasswd/results',
      `/v1/jobs/${earlierId}%2F..%2F..%2F..%2Fetc%2Fpasswd/results`,
      `/v1/jobs/job_..%2F..%2F..%2F..%2F..%2Fetc/results?format=f32`,
    ]) {
      await expectRefused(path, request(base, path), 404, 'JOB_NOT_FOUND');
    }
    for (const path of ['/v1/jobs/../../../etc/passwd', `/v1/jobs/${earlierId}/../../../../etc/passwd`, '/v1/jobs/..\\..\\etc\\passwd/results']) {
      await expectRefused(`raw ${path}`, raw(port, `GET ${path} HTTP/1.1\nHost: x\nConnection: close\n\n`), /^4\d\d$/);
    }
  });

  it('path traversal in model names (JSON and URL-encoded query): refused before any file is read outside MODEL_DIR', async () => {
    const names = [
      '../../etc/passwd',
      '..%2F..%2Fetc%2Fpasswd',
      '%2e%2e/%2e%2e/etc/passwd',
      '/etc/passwd',
      '..\\..\\etc\\passwd',
      'C:\\Windows\\System32',
      'shardwise-random/../../outside',
      'shardwise-random/./bert-tiny-embed',
      './outside',
      'a//b',
      'file:///etc/passwd',
      '~/models',
      'evil',
      'evil/passwd',
      'outside-link',
    ];
    for (const model of names) {
      await expectRefused(`model ${model} (JSON)`, json(JSON.stringify({ task: 'embed', model, inputs: ['x'] })), 400);
      await expectRefused(`model ${model} (query)`, ndjson(`task=embed&model=${encodeURIComponent(model)}`, '{"text":"x"}\n'), 400);
    }
    await expectRefused('double-encoded model (query)', ndjson('task=embed&model=%252e%252e%252f%252e%252e%252fetc', '{"text":"x"}\n'), 400, 'INVALID_MODEL');
    for (const o of outcomes.filter((x) => x.name.startsWith('model '))) expect(['INVALID_MODEL', 'UNKNOWN_MODEL'], o.name).toContain(o.code);
  });

  it('prototype-pollution keys in bodies, metadata, options, items and the query: 400', async () => {
    const cases: Array<[string, string]> = [
      ['__proto__ at the top', '{"__proto__":{"polluted":true},"task":"embed","inputs":["a"]}'],
      ['constructor at the top', '{"constructor":{"prototype":{"polluted":true}},"task":"embed","inputs":["a"]}'],
      ['__proto__ in metadata', '{"task":"embed","inputs":["a"],"metadata":{"__proto__":{"isAdmin":true}}}'],
      ['constructor.prototype in metadata', '{"task":"embed","inputs":["a"],"metadata":{"constructor":{"prototype":{"polluted":1}}}}'],
      ['__proto__ deep in metadata', '{"task":"embed","inputs":["a"],"metadata":{"a":[{"b":{"__proto__":{"x":1}}}]}}'],
      ['__proto__ in options', '{"task":"embed","inputs":["a"],"options":{"__proto__":{"truncate":false}}}'],
      ['__proto__ in an item', '{"task":"embed","inputs":[{"text":"a","__proto__":{"id":"x"}}]}'],
    ];
    for (const [name, body] of cases) await expectRefused(name, json(body), 400);
    await expectRefused('__proto__ in an NDJSON item', ndjson('task=embed', '{"text":"a","__proto__":{"polluted":1}}\n'), 400, 'INVALID_INPUT');
    await expectRefused('__proto__ in query metadata', ndjson(`task=embed&metadata=${encodeURIComponent('{"__proto__":{"x":1}}')}`, '{"text":"a"}\n'), 400, 'INVALID_INPUT');
    await expectRefused('__proto__ as a query parameter', ndjson('task=embed&__proto__=1', '{"text":"a"}\n'), 400, 'INVALID_INPUT');
    // A job submitted afterwards shows no trace of a polluted prototype.
    const after = await postJob(base, { task: 'embed', inputs: ['clean'] });
    expect(after.status).toBe(202);
    expect(JSON.stringify(after.body)).not.toMatch(/polluted|isAdmin/);
  });

  it('malformed HTTP: smuggling attempts and bad framing are refused by the server', async () => {
    await expectRefused(
      'Content-Length + Transfer-Encoding',
      raw(port, 'POST /v1/jobs HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 4\nTransfer-Encoding: chunked\n\n', '0\r\n\r\n'),
      400,
    );
    await expectRefused('two Content-Lengths', raw(port, 'POST /v1/jobs HTTP/1.1\nHost: x\nContent-Type: application/json\nContent-Length: 2\nContent-Length: 30\n\n', '{}'), 400);
    await expectRefused('non-numeric Content-Length', raw(port, 'POST /v1/jobs HTTP/1.1\nHost: x\nContent-Length: 1e3\n\n'), 400);
    await expectRefused(
      'unknown Content-Type',
      request(base, '/v1/jobs', { method: 'POST', headers: { 'content-type': 'text/xml' }, body: '<job/>' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
    await expectRefused(
      'compressed NDJSON',
      request(base, '/v1/jobs?task=embed', { method: 'POST', headers: { 'content-type': 'application/x-ndjson', 'content-encoding': 'br' }, body: 'x' }),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    );
  });

  it('afterwards: same API process, no 5xx, nothing left behind, earlier results intact, a normal job completes exactly once', async () => {
    const byStatus: Record<number, number> = {};
    for (const outcome of outcomes) byStatus[outcome.status] = (byStatus[outcome.status] ?? 0) + 1;
    console.log(`[security] ${outcomes.length} hostile requests: ${JSON.stringify(byStatus)}`);
    expect(outcomes.filter((o) => o.status >= 500 || o.status < 400)).toEqual([]);
    expect(api.process.exitCode).toBeNull();
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).not.toMatch(/status="5\d\d"/);
    expect(api.output()).not.toMatch(/RangeError|Maximum call stack/);

    expect(await (await fetch(`${base}/v1/jobs/${earlierId}/results`)).text()).toBe(earlierResults);
    const list = await request<{ total: number; data: Array<{ id: string }> }>(base, '/v1/jobs?limit=100');
    expect(list.body.total).toBe(3); // the earlier job, the NUL-text job and the clean one: no refused request made a job
    // No refused upload left its input in the store, not even as a partial write.
    expect((await readdir(join(stack.resultsDir, 'jobs'))).sort()).toEqual(list.body.data.map((job) => job.id).sort());
    expect(await readdir(join(stack.resultsDir, '.partial')).catch(() => [])).toEqual([]);

    const items = Array.from({ length: 30 }, (_, i) => ({ id: `final-${i}`, text: `a normal text after the hostile suite, number ${i}` }));
    const submitted = await postJob(base, { task: 'embed', inputs: items });
    const job = await waitFor(base, submitted.body.id as string, finished);
    expect(job.state).toBe('completed');
    expect(summary(tally(items, await resultsOf(base, job.id)))).toEqual({ lost: 0, duplicated: 0, misplaced: 0, ok: 30, failed: 0 });
  });
});
