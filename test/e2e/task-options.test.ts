/**
 * The classify and embed options end to end: through the built API and a worker on a real Redis,
 * as JSON jobs, NDJSON query parameters and the official openai client. Scores and vectors are
 * compared with ReferenceModel (Python's semantics); the job view and the result formats must
 * carry `dimensions`.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import OpenAI, { APIError } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { syntheticCorpus } from '../../tools/synthetic-corpus.js';
import { API_ENTRY, startApp, WORKER_ENTRY, type AppProcess } from '../support/app-process.js';
import { readParquetResults } from '../support/parquet-results.js';
import { freePort, startRedis, type RedisHandle } from '../support/redis-server.js';
import { l2Normalize, ReferenceModel } from '../support/reference.js';
import { finished, postJob, postNdjson, resultsOf, waitFor, type ResultLine } from '../support/stack.js';

const MODEL_DIR = resolve(import.meta.dirname, '../../.cache/models');
const MULTILABEL = 'shardwise-random/roberta-tiny-multilabel';
const EMBED = 'shardwise-random/distilbert-tiny-embed';
const TINY_MAX_TOKENS = 128;
const TOL = 1e-5;
// A fifth over the 128-token limit, so truncated texts go through every option too.
const ITEMS = [...syntheticCorpus(200, { seed: 5, paragraphShare: 0.2, emptyShare: 0.02 })];

const maxDiff = (a: readonly number[], b: readonly number[]): number => (a.length !== b.length ? Infinity : Math.max(...a.map((v, i) => Math.abs(v - (b[i] as number)))));

function scoresOf(line: ResultLine | undefined): Record<string, number> {
  if (!line || !('scores' in line)) throw new Error(`no scores: ${JSON.stringify(line)}`);
  return line.scores;
}

function embeddingOf(line: ResultLine | undefined): number[] {
  if (!line || !('embedding' in line)) throw new Error(`no embedding: ${JSON.stringify(line)}`);
  return line.embedding;
}

describe('end to end: function_to_apply, dimensions and prompts', () => {
  let redis: RedisHandle;
  let api: AppProcess;
  let worker: AppProcess;
  let resultsDir: string;
  let client: OpenAI;

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['roberta', 'distilbert'], head: ['embed', 'multilabel'], dtype: ['fp32'] });
    redis = await startRedis();
    resultsDir = await mkdtemp(join(tmpdir(), 'sw-options-'));
    const common = { REDIS_URL: redis.url, MODEL_DIR, RESULTS_DIR: resultsDir };
    const [apiPort, workerPort] = await Promise.all([freePort(), freePort()]);
    [api, worker] = await Promise.all([
      startApp(API_ENTRY, { ...common, PORT: String(apiPort), SHARD_MAX_TEXTS: '64' }, apiPort),
      startApp(WORKER_ENTRY, { ...common, WORKER_PORT: String(workerPort), INFERENCE_THREADS: '1', PRELOAD_MODELS: `${MULTILABEL},${EMBED}` }, workerPort),
    ]);
    client = new OpenAI({ apiKey: 'unused', baseURL: `${api.baseUrl}/v1`, maxRetries: 0 });
  }, 180_000);

  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await redis?.stop();
    if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
  });

  async function run(job: Record<string, unknown>) {
    const submitted = await postJob(api.baseUrl, { inputs: ITEMS, ...job });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const view = await waitFor(api.baseUrl, submitted.body.id as string, finished);
    expect(view.state).toBe('completed');
    expect(view.counts).toMatchObject({ total: ITEMS.length, succeeded: ITEMS.length, failed: 0 });
    return { view, lines: await resultsOf(api.baseUrl, view.id) };
  }

  it('scores a multi-label model with a sigmoid per label by default, and with function_to_apply from a body or a query string', async () => {
    const reference = await ReferenceModel.load(MODEL_DIR, MULTILABEL, 'multilabel', TINY_MAX_TOKENS);
    try {
      const byDefault = await run({ task: 'text-classification', model: MULTILABEL });
      expect(byDefault.view.options.function_to_apply).toBeNull();
      let diff = 0;
      for (const [i, item] of ITEMS.entries()) {
        const expected = await reference.sigmoid(item.text);
        const mine = scoresOf(byDefault.lines[i]);
        expect(Object.keys(mine).sort()).toEqual(Object.keys(expected).sort());
        diff = Math.max(diff, ...Object.entries(expected).map(([label, score]) => Math.abs((mine[label] as number) - score)));
      }
      expect(diff).toBeLessThanOrEqual(TOL);
      expect(byDefault.lines.some((line) => line && 'truncated' in line && line.truncated)).toBe(true);

      const none = await run({ task: 'sentiment', model: MULTILABEL, options: { function_to_apply: 'none', top_k: 1 } });
      expect(none.view.options).toMatchObject({ function_to_apply: 'none', top_k: 1 });
      const first = none.lines[0];
      const logits = await reference.logits(ITEMS[0]?.text as string);
      const best = Object.entries(logits).sort((a, b) => b[1] - a[1])[0] as [string, number];
      expect(first && 'label' in first && first.label).toBe(best[0]);
      expect(Math.abs((scoresOf(first)[best[0]] as number) - best[1])).toBeLessThanOrEqual(TOL);

      const ndjson = await postNdjson(api.baseUrl, { task: 'sentiment', model: MULTILABEL, function_to_apply: 'softmax' }, ITEMS.slice(0, 5));
      expect(ndjson.status, JSON.stringify(ndjson.body)).toBe(202);
      const soft = await waitFor(api.baseUrl, ndjson.body.id as string, finished);
      expect(soft.options.function_to_apply).toBe('softmax');
      for (const line of await resultsOf(api.baseUrl, soft.id)) expect(Object.values(scoresOf(line)).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 5);
    } finally {
      await reference.dispose();
    }
  }, 120_000);

  it('refuses a bad function_to_apply, naming the option and the valid values', async () => {
    const bad = await postJob(api.baseUrl, { task: 'sentiment', model: MULTILABEL, inputs: ['x'], options: { function_to_apply: 'relu' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ error: { code: 'INVALID_OPTION', field: 'function_to_apply' } });
    expect(JSON.stringify(bad.body)).toContain('\\"softmax\\", \\"sigmoid\\", \\"none\\"');
    const other = await postJob(api.baseUrl, { task: 'embed', model: EMBED, inputs: ['x'], options: { function_to_apply: 'sigmoid' } });
    expect(other.status).toBe(400);
    expect(JSON.stringify(other.body)).toContain('applies to sentiment jobs only');
  });

  it('cuts embeddings to `dimensions` and re-normalises them; the job view, NDJSON, npy and Parquet all have that width', async () => {
    const reference = await ReferenceModel.load(MODEL_DIR, EMBED, 'embed', TINY_MAX_TOKENS);
    try {
      const { view, lines } = await run({ task: 'embed', model: EMBED, options: { dimensions: 8 } });
      expect(view.dimensions).toBe(8);
      expect(view.options).toMatchObject({ dimensions: 8, prompt: null, prompt_name: null });
      let diff = 0;
      for (const [i, item] of ITEMS.entries()) diff = Math.max(diff, maxDiff(embeddingOf(lines[i]), l2Normalize((await reference.meanPooled(item.text)).slice(0, 8))));
      expect(diff).toBeLessThanOrEqual(TOL);

      const npy = await fetch(`${api.baseUrl}/v1/jobs/${view.id}/results?format=npy`);
      expect(npy.headers.get('x-embedding-dimensions')).toBe('8');
      expect(Buffer.from(await npy.arrayBuffer()).toString('latin1')).toContain(`'shape': (${ITEMS.length}, 8)`);
      const parquet = await fetch(`${api.baseUrl}/v1/jobs/${view.id}/results?format=parquet`);
      const table = await readParquetResults(new Uint8Array(await parquet.arrayBuffer()));
      expect(table.rows).toHaveLength(ITEMS.length);
      expect(table.rows[0]?.embedding).toHaveLength(8);
    } finally {
      await reference.dispose();
    }
  }, 120_000);

  it('puts the prompt of prompt_name (config_sentence_transformers.json) before each text; refuses unknown names, both options, and too many dimensions', async () => {
    const reference = await ReferenceModel.load(MODEL_DIR, EMBED, 'embed', TINY_MAX_TOKENS);
    try {
      const { view, lines } = await run({ task: 'embed', model: EMBED, options: { prompt_name: 'passage' } });
      expect(view.options.prompt_name).toBe('passage');
      let diff = 0;
      for (const [i, item] of ITEMS.entries()) diff = Math.max(diff, maxDiff(embeddingOf(lines[i]), await reference.embed(`passage: ${item.text}`)));
      expect(diff).toBeLessThanOrEqual(TOL);
    } finally {
      await reference.dispose();
    }
    const unknown = await postJob(api.baseUrl, { task: 'embed', model: EMBED, inputs: ['x'], options: { prompt_name: 'doc' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ error: { code: 'INVALID_OPTION', field: 'prompt_name', message: 'unknown prompt_name "doc"; the model has "query", "passage"' } });
    const both = await postJob(api.baseUrl, { task: 'embed', model: EMBED, inputs: ['x'], options: { prompt: 'q: ', prompt_name: 'query' } });
    expect(both.status).toBe(400);
    expect(both.body).toMatchObject({ error: { code: 'INVALID_OPTION', field: 'prompt_name' } });
    const wide = await postJob(api.baseUrl, { task: 'embed', model: EMBED, inputs: ['x'], options: { dimensions: 33 } });
    expect(wide.status).toBe(400);
    expect(wide.body).toMatchObject({ error: { code: 'INVALID_OPTION', field: 'dimensions' } });
    expect(JSON.stringify(wide.body)).toContain('at most 32');
  }, 120_000);

  it('takes OpenAI `dimensions` from the official client (float and base64), and refuses one wider than the model or below 1', async () => {
    const texts = ITEMS.slice(0, 4).map((item) => item.text);
    const full = await client.embeddings.create({ model: EMBED, input: texts, encoding_format: 'float' });
    const cut = await client.embeddings.create({ model: EMBED, input: texts, dimensions: 6, encoding_format: 'float' });
    for (const [i, row] of cut.data.entries()) {
      expect(row.embedding).toHaveLength(6);
      expect(maxDiff(row.embedding, l2Normalize((full.data[i] as { embedding: number[] }).embedding.slice(0, 6)))).toBeLessThan(1e-4);
    }
    // The client asks for base64 by default and decodes it: the width must survive that too.
    const decoded = await client.embeddings.create({ model: EMBED, input: texts[0] as string, dimensions: 6 });
    expect(decoded.data[0]?.embedding).toHaveLength(6);

    const wide = await client.embeddings.create({ model: EMBED, input: 'x', dimensions: 64 }).catch((error: unknown) => error);
    expect(wide).toBeInstanceOf(APIError);
    expect((wide as APIError).status).toBe(400);
    expect((wide as APIError).param).toBe('dimensions');
    expect((wide as APIError).message).toContain('at most 32');
    const zero = await client.embeddings.create({ model: EMBED, input: 'x', dimensions: 0 }).catch((error: unknown) => error);
    expect((zero as APIError).status).toBe(400);
    expect((zero as APIError).param).toBe('dimensions');
  }, 60_000);
});
