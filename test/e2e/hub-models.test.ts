/**
 * Hub models end to end: the built API and a worker without MODEL_DIR, HF_ENDPOINT pointing at a fake
 * Hub on loopback that serves a generated model. The API reads the model's configs from the endpoint
 * at submit, so a bad `dimensions` or `prompt_name` is a 400 there; the worker downloads the model
 * through transformers.js and applies its prompts. When the endpoint fails for the API, jobs are
 * accepted unchecked and the worker decides, as before.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { API_ENTRY, startApp, WORKER_ENTRY, type AppProcess } from '../support/app-process.js';
import { startFakeHub, type FakeHub } from '../support/fake-hub.js';
import { freePort, startRedis, type RedisHandle } from '../support/redis-server.js';
import { finished, postJob, request, resultsOf, waitFor, type ResultLine } from '../support/stack.js';

const MODEL_DIR = resolve(import.meta.dirname, '../../.cache/models');
const EMBED = 'shardwise-random/distilbert-tiny-embed';
// The same model under a second id, for the API's fallback (it keeps what it learnt of EMBED).
const UNCHECKED = 'hub-test/embed-unchecked';
const INPUTS = ['first text', 'a second, somewhat longer text', 'third'];
// The API's fetches carry this User-Agent; transformers.js's in the worker start with "transformers.js/".
const API_AGENT = 'shardwise';

function embeddings(lines: ResultLine[]): number[][] {
  return lines.map((line) => {
    if (!('embedding' in line)) throw new Error(`no embedding: ${JSON.stringify(line)}`);
    return line.embedding;
  });
}

describe('end to end: Hub models through HF_ENDPOINT', () => {
  let redis: RedisHandle;
  let hub: FakeHub;
  let api: AppProcess;
  let worker: AppProcess;
  let resultsDir: string;
  let cacheDir: string;

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['distilbert'], head: ['embed'], dtype: ['fp32'] });
    hub = await startFakeHub(MODEL_DIR);
    hub.alias(UNCHECKED, EMBED);
    redis = await startRedis();
    resultsDir = await mkdtemp(join(tmpdir(), 'sw-hub-results-'));
    cacheDir = await mkdtemp(join(tmpdir(), 'sw-hub-cache-'));
    const common = { REDIS_URL: redis.url, RESULTS_DIR: resultsDir, HF_ENDPOINT: hub.url };
    const [apiPort, workerPort] = await Promise.all([freePort(), freePort()]);
    [api, worker] = await Promise.all([
      startApp(API_ENTRY, { ...common, PORT: String(apiPort), DEFAULT_MODEL_EMBED: EMBED }, apiPort),
      startApp(WORKER_ENTRY, { ...common, WORKER_PORT: String(workerPort), INFERENCE_THREADS: '1', HF_CACHE_DIR: cacheDir }, workerPort),
    ]);
  }, 180_000);

  afterAll(async () => {
    await worker?.stop();
    await api?.stop();
    await redis?.stop();
    await hub?.close();
    for (const dir of [resultsDir, cacheDir]) if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function run(job: Record<string, unknown>) {
    const submitted = await postJob(api.baseUrl, { task: 'embed', inputs: INPUTS, ...job });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const view = await waitFor(api.baseUrl, submitted.body.id as string, finished);
    expect(view.state, JSON.stringify(view)).toBe('completed');
    expect(view.counts).toMatchObject({ total: INPUTS.length, succeeded: INPUTS.length, failed: 0 });
    return { view, vectors: embeddings(await resultsOf(api.baseUrl, view.id)) };
  }

  it('runs a job with prompt_name: the API knows the model from its configs, the worker downloads it through HF_ENDPOINT', async () => {
    const named = await run({ model: EMBED, options: { prompt_name: 'passage' } });
    // Filled from the Hub's config.json at submit, as for a folder.
    expect(named.view.dimensions).toBe(32);
    expect(named.view.options.prompt_name).toBe('passage');
    const explicit = await run({ model: EMBED, options: { prompt: 'passage: ' } });
    expect(named.vectors).toEqual(explicit.vectors);
    const plain = await run({ model: EMBED });
    expect(plain.vectors).not.toEqual(named.vectors);

    const byAgent = (file: string, agent: (ua: string) => boolean) => hub.requests.filter((r) => r.modelId === EMBED && r.file === file && r.status === 200 && agent(r.userAgent));
    // The worker's transformers.js fetched the weights once (then its cache), and its thread the prompts.
    expect(byAgent('onnx/model.onnx', (ua) => ua.startsWith('transformers.js/'))).toHaveLength(1);
    expect(byAgent('config_sentence_transformers.json', (ua) => ua.startsWith('transformers.js/'))).toHaveLength(1);
    // The API read the three configs once for three submits.
    for (const file of ['config.json', 'tokenizer_config.json', 'config_sentence_transformers.json']) expect(byAgent(file, (ua) => ua === API_AGENT)).toHaveLength(1);
  }, 180_000);

  it('answers 400 at submit for dimensions wider than the model, an unknown prompt_name, and a task the model cannot serve', async () => {
    const wide = await postJob(api.baseUrl, { task: 'embed', model: EMBED, inputs: ['x'], options: { dimensions: 33 } });
    expect(wide.status).toBe(400);
    expect(wide.body).toMatchObject({ error: { code: 'INVALID_OPTION', field: 'dimensions' } });
    expect(JSON.stringify(wide.body)).toContain('at most 32');
    const unknown = await postJob(api.baseUrl, { task: 'embed', model: EMBED, inputs: ['x'], options: { prompt_name: 'doc' } });
    expect(unknown.status).toBe(400);
    expect(unknown.body).toMatchObject({ error: { code: 'INVALID_OPTION', field: 'prompt_name', message: 'unknown prompt_name "doc"; the model has "query", "passage"' } });
    const task = await postJob(api.baseUrl, { task: 'sentiment', model: EMBED, inputs: ['x'] });
    expect(task.status).toBe(400);
    expect(task.body).toMatchObject({ error: { code: 'INVALID_MODEL', field: 'model' } });
  }, 60_000);

  it('describes the default models on GET /v1/models from their configs, when the endpoint has them', async () => {
    const reply = await request<{ data: Array<Record<string, unknown>> }>(api.baseUrl, '/v1/models');
    expect(reply.status).toBe(200);
    const models = reply.body.data;
    expect(models.find((m) => m.id === EMBED)).toMatchObject({ task: ['embed'], family: 'distilbert', dimensions: 32, max_tokens: 128, default_for: ['embed'] });
    // The fake Hub has no sentiment model: listed as before, undescribed.
    expect(models.find((m) => m.id === 'Xenova/distilbert-base-uncased-finetuned-sst-2-english')).toMatchObject({
      task: ['sentiment'],
      dimensions: null,
      default_for: ['sentiment'],
    });
  }, 60_000);

  it('accepts jobs unchecked when the endpoint fails for the API, and the worker still applies the prompt', async () => {
    hub.failWhen((request) => (request.userAgent === API_AGENT ? 503 : undefined));
    try {
      const named = await run({ model: UNCHECKED, options: { prompt_name: 'query' } });
      // Unknown at submit: the width comes from the worker's results only.
      expect(named.view.dimensions).toBeNull();
      const explicit = await run({ model: EMBED, options: { prompt: 'query: ' } });
      expect(named.vectors).toEqual(explicit.vectors);
      // Accepted, and failed by the worker, which knows the model's prompts.
      const submitted = await postJob(api.baseUrl, { task: 'embed', model: UNCHECKED, inputs: ['x'], options: { prompt_name: 'doc' } });
      expect(submitted.status).toBe(202);
      const view = await waitFor(api.baseUrl, submitted.body.id as string, finished);
      expect(view.counts).toMatchObject({ succeeded: 0, failed: 1 });
      expect(JSON.stringify(await resultsOf(api.baseUrl, view.id))).toContain('unknown prompt_name \\"doc\\"; the model has \\"query\\", \\"passage\\"');
      // The failure is remembered for a while (one try per config file, not one per submit) and logged once.
      expect(hub.count(UNCHECKED, 'config.json', 503)).toBe(1);
      expect(api.output().match(/cannot read the configs of Hub model "hub-test\/embed-unchecked"/g)).toHaveLength(1);
    } finally {
      hub.failWhen(null);
    }
  }, 180_000);
});
