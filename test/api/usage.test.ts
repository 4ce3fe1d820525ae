import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import type { AppProcess } from '../support/app-process.js';
import { finished, MODEL_DIR, newApiKey, postJob, request, sha256Hex, Stack, TINY_EMBED, waitFor } from '../support/stack.js';

interface UsageRow {
  object: 'usage';
  date: string;
  tenant: string;
  model: string;
  texts: number;
  tokens: number;
}
interface UsageList {
  object: 'list';
  from: string;
  to: string;
  data: UsageRow[];
  total: { texts: number; tokens: number };
}

/**
 * GET /v1/usage through a real API and worker on a real Redis: each tenant sees its own usage, the
 * keys of an ADMIN_TENANTS tenant see everyone's and may filter by tenant, and the numbers are the
 * tokens of the texts that succeeded (a text over the model's limit with truncation off is not billed).
 */
describe('GET /v1/usage', () => {
  let stack: Stack;
  let api: AppProcess;
  const acme = newApiKey();
  const globex = newApiKey();
  const ops = newApiKey();
  const today = new Date().toISOString().slice(0, 10);
  const acmeTokens = { texts: 0, tokens: 0 };
  const globexTokens = { texts: 0, tokens: 0 };

  const usage = (key: string, query = '') => request<UsageList>(api.baseUrl, `/v1/usage${query}`, { key });

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    const dir = await mkdtemp(join(tmpdir(), 'sw-usage-keys-'));
    const keysFile = join(dir, 'keys.json');
    await writeFile(
      keysFile,
      JSON.stringify([
        { tenant: 'acme', key_sha256: sha256Hex(acme) },
        { tenant: 'globex', key_sha256: sha256Hex(globex) },
        { tenant: 'ops', key_sha256: sha256Hex(ops) },
      ]),
    );
    stack = await Stack.start({ env: { API_KEYS_FILE: keysFile, SHARD_MAX_TEXTS: '2' } });
    stack.tempDir(dir);
    [api] = await Promise.all([stack.startApi({ ADMIN_TENANTS: 'ops' }), stack.startWorker({ PRELOAD_MODELS: TINY_EMBED })]);

    const run = async (key: string, inputs: string[], into: { texts: number; tokens: number }, truncate = true) => {
      const submitted = await postJob(api.baseUrl, { task: 'embed', model: TINY_EMBED, inputs, options: { truncate } }, key);
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
      const job = await waitFor(api.baseUrl, submitted.body.id as string, finished, { key, timeoutMs: 60_000 });
      expect(job.state).toBe('completed');
      into.texts += job.counts.succeeded;
      return job;
    };
    const acmeJob = await run(acme, ['alpha beta', 'gamma', 'delta epsilon zeta', 'eta'], acmeTokens);
    acmeTokens.tokens += acmeJob.tokens_processed;
    const globexJob = await run(globex, ['one two three'], globexTokens);
    globexTokens.tokens += globexJob.tokens_processed;
    // A text over the model's limit, truncation off: its item fails (TEXT_TOO_LONG) and is not billed.
    const long = await run(globex, ['short text', 'word '.repeat(2000)], globexTokens, false);
    expect(long.counts).toMatchObject({ succeeded: 1, failed: 1 });
    const shortOnly = await run(globex, ['short text'], { texts: 0, tokens: 0 });
    globexTokens.texts += 1;
    globexTokens.tokens += shortOnly.tokens_processed * 2;
    // The job's own token count holds the failed item's tokens too; the bill does not.
    expect(long.tokens_processed).toBeGreaterThan(shortOnly.tokens_processed);
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('shows a tenant its own usage only, by day and model, with totals', async () => {
    const own = await usage(acme);
    expect(own.status, JSON.stringify(own.body)).toBe(200);
    expect(own.body.data).toEqual([{ object: 'usage', date: today, tenant: 'acme', model: TINY_EMBED, ...acmeTokens }]);
    expect(own.body.total).toEqual(acmeTokens);
    expect(own.body.to).toBe(today);
    expect(Date.parse(own.body.to) - Date.parse(own.body.from)).toBe(29 * 86_400_000);
    expect(acmeTokens).toMatchObject({ texts: 4 });

    const theirs = await usage(globex, `?from=${today}&to=${today}&tenant=globex&model=${encodeURIComponent(TINY_EMBED)}`);
    expect(theirs.body.data).toEqual([{ object: 'usage', date: today, tenant: 'globex', model: TINY_EMBED, ...globexTokens }]);
    expect(globexTokens.texts).toBe(3);
  });

  it('refuses another tenant with 403, and filters nothing into view for an unknown model or a day without use', async () => {
    const forbidden = await usage(acme, '?tenant=globex');
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ error: { code: 'FORBIDDEN', field: 'tenant' } });
    expect(JSON.stringify(forbidden.body)).not.toContain('"tokens"');
    expect((await usage(acme, '?model=no-such-model')).body).toMatchObject({ data: [], total: { texts: 0, tokens: 0 } });
    expect((await usage(acme, '?from=2020-01-01&to=2020-01-31')).body).toMatchObject({ from: '2020-01-01', to: '2020-01-31', data: [] });
    expect((await request(api.baseUrl, '/v1/usage')).status).toBe(401);
  });

  it('shows an admin key every tenant, or the one it names', async () => {
    const all = await usage(ops);
    expect(all.status).toBe(200);
    expect(all.body.data.map((row) => row.tenant)).toEqual(['acme', 'globex']);
    expect(all.body.total).toEqual({ texts: acmeTokens.texts + globexTokens.texts, tokens: acmeTokens.tokens + globexTokens.tokens });
    const one = await usage(ops, '?tenant=globex');
    expect(one.body.data).toEqual([{ object: 'usage', date: today, tenant: 'globex', model: TINY_EMBED, ...globexTokens }]);
    expect((await usage(ops, '?tenant=nobody')).body.data).toEqual([]);
  });

  it('refuses a bad query with 400 INVALID_QUERY naming the parameter', async () => {
    const cases: Array<[string, string]> = [
      ['?from=2026-13-01', 'from'],
      ['?to=yesterday', 'to'],
      ['?from=2026-02-30', 'from'],
      ['?from=2026-03-02&to=2026-03-01', 'from'],
      ['?from=2020-01-01&to=2026-01-01', 'from'],
      ['?tenant=a:b', 'tenant'],
      ['?limit=5', 'limit'],
    ];
    for (const [query, field] of cases) {
      const reply = await usage(acme, query);
      expect(reply.status, query).toBe(400);
      expect(reply.body, query).toMatchObject({ error: { code: 'INVALID_QUERY', field } });
    }
  });

  it('is in the OpenAPI document with its query parameters', async () => {
    const spec = await request<{ paths: Record<string, { get?: { parameters?: Array<{ name: string; in: string }>; responses: Record<string, unknown> } }> }>(
      api.baseUrl,
      '/docs/openapi.json',
      { key: ops },
    );
    const route = spec.body.paths['/v1/usage']?.get;
    expect(
      route?.parameters
        ?.filter((p) => p.in === 'query')
        .map((p) => p.name)
        .sort(),
    ).toEqual(['from', 'model', 'tenant', 'to']);
    expect(Object.keys(route?.responses ?? {}).sort()).toEqual(['200', '400', '403']);
  });
});
