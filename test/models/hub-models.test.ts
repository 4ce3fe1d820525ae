/**
 * Models from the Hub (no modelDir): transformers.js downloads them through hubEndpoint (a fake Hub on
 * loopback serving the generated folders), and the thread reads their prompts from
 * config_sentence_transformers.json, through transformers.js's file cache (hubCacheDir), so a second
 * pool with the endpoint down still has them.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferencePool, InvalidEncodeOptionsError, InvalidPoolOptionsError, ModelLoadError, type InferencePoolOptions } from '#models';
import { startFakeHub, type FakeHub } from '../support/fake-hub.js';
import { ensureThreadBuild, ensureTinyModels, modelId } from './fixtures.js';

const EMBED = modelId('distilbert', 'embed');
// The same weights under ids whose config_sentence_transformers.json differs.
const WITH_DEFAULT = 'hub-test/embed-default-query';
const WITHOUT_PROMPTS = 'hub-test/embed-no-prompts';
const TEXTS = ['a short text', 'another one, a little longer than the first', 'x'];

let hub: FakeHub;
let cacheDir: string;
const options = (): InferencePoolOptions => ({
  threads: 1,
  intraOpThreads: 1,
  device: 'cpu',
  dtype: 'fp32',
  hubEndpoint: hub.url,
  hubCacheDir: cacheDir,
  maxBatchTokens: 256,
  maxBatchSize: 4,
});

async function withPool<T>(use: (pool: InferencePool) => Promise<T>): Promise<T> {
  const pool = new InferencePool(options());
  await pool.start();
  try {
    return await use(pool);
  } finally {
    await pool.close();
  }
}

async function vectors(pool: InferencePool, id: string, encodeOptions: { prompt?: string; promptName?: string } = {}): Promise<number[][]> {
  const { results } = await pool.encode({ modelId: id, task: 'embed', texts: TEXTS, options: encodeOptions });
  return results.map((r) => {
    if (!r.ok || !('embedding' in r)) throw new Error(`no embedding: ${JSON.stringify(r)}`);
    return [...r.embedding];
  });
}

beforeAll(async () => {
  ensureThreadBuild();
  const modelDir = await ensureTinyModels(['embed']);
  hub = await startFakeHub(modelDir);
  hub.alias(WITH_DEFAULT, EMBED);
  hub.setFile(WITH_DEFAULT, 'config_sentence_transformers.json', JSON.stringify({ prompts: { query: 'query: ', passage: 'passage: ' }, default_prompt_name: 'query' }));
  hub.alias(WITHOUT_PROMPTS, EMBED);
  hub.setFile(WITHOUT_PROMPTS, 'config_sentence_transformers.json', null);
  cacheDir = mkdtempSync(join(tmpdir(), 'shardwise-hub-cache-'));
}, 180_000);

afterAll(async () => {
  await hub?.close();
  if (cacheDir) rmSync(cacheDir, { recursive: true, force: true });
});

describe('Hub models', () => {
  it('refuses a hubEndpoint that is not an http(s) URL', () => {
    expect(() => new InferencePool({ ...options(), hubEndpoint: 'ftp://mirror' })).toThrow(InvalidPoolOptionsError);
  });

  it('downloads through hubEndpoint, reads the prompts of config_sentence_transformers.json, and applies prompt_name and default_prompt_name', async () => {
    await withPool(async (pool) => {
      const info = await pool.load(EMBED, 'embed');
      expect(info).toMatchObject({ id: EMBED, dimensions: 32, prompts: { query: 'query: ', passage: 'passage: ' } });
      expect(info.defaultPromptName).toBeUndefined();
      // transformers.js fetched the model itself from the fake Hub, and the thread the prompts.
      expect(hub.count(EMBED, 'onnx/model.onnx')).toBe(1);
      expect(hub.count(EMBED, 'config_sentence_transformers.json')).toBe(1);
      expect(hub.requests.find((r) => r.file === 'onnx/model.onnx')?.userAgent).toMatch(/^transformers\.js\//);
      expect(existsSync(join(cacheDir, EMBED, 'onnx/model.onnx'))).toBe(true);
      expect(existsSync(join(cacheDir, EMBED, 'config_sentence_transformers.json'))).toBe(true);

      const named = await vectors(pool, EMBED, { promptName: 'passage' });
      expect(named).toEqual(await vectors(pool, EMBED, { prompt: 'passage: ' }));
      expect(named).not.toEqual(await vectors(pool, EMBED));
      await expect(vectors(pool, EMBED, { promptName: 'doc' })).rejects.toThrow(InvalidEncodeOptionsError);
      await expect(vectors(pool, EMBED, { promptName: 'doc' })).rejects.toThrow('unknown prompt_name "doc"; the model has "query", "passage"');

      const defaulted = await pool.load(WITH_DEFAULT, 'embed');
      expect(defaulted.defaultPromptName).toBe('query');
      expect(await vectors(pool, WITH_DEFAULT)).toEqual(await vectors(pool, EMBED, { prompt: 'query: ' }));
      expect(await vectors(pool, WITH_DEFAULT, { promptName: 'passage' })).toEqual(named);

      const bare = await pool.load(WITHOUT_PROMPTS, 'embed');
      expect(bare.prompts).toBeUndefined();
      await expect(vectors(pool, WITHOUT_PROMPTS, { promptName: 'query' })).rejects.toThrow('the model has none');
      // Absent is remembered in the cache as {}, so an offline load knows it from "unreachable".
      expect(readFileSync(join(cacheDir, WITHOUT_PROMPTS, 'config_sentence_transformers.json'), 'utf8')).toBe('{}');
    });
  }, 120_000);

  it('rewrites a q8 model for per-token quantization from the file HF_CACHE_DIR holds', async () => {
    const pool = new InferencePool({ ...options(), dtype: 'q8' });
    await pool.start();
    try {
      await pool.load(EMBED, 'embed');
      expect(hub.count(EMBED, 'onnx/model_quantized.onnx')).toBe(1);
      expect(existsSync(join(cacheDir, EMBED, 'onnx/model_quantized.onnx'))).toBe(true);
      const alone = await vectors(pool, EMBED, { promptName: 'query' });
      // Per-token quantization: a text's vector does not depend on its batch-mates.
      const { results } = await pool.encode({ modelId: EMBED, task: 'embed', texts: [TEXTS[0] as string], options: { promptName: 'query' } });
      const single = results[0];
      if (!single?.ok || !('embedding' in single)) throw new Error(`no embedding: ${JSON.stringify(single)}`);
      expect([...single.embedding]).toEqual(alone[0]);
    } finally {
      await pool.close();
    }
  }, 120_000);

  it('loads a cached model with its prompts while the endpoint is down, and fails clearly when the prompts were never cached', async () => {
    const before = hub.requests.length;
    hub.failWhen(() => 503);
    try {
      await withPool(async (pool) => {
        expect(await pool.load(WITH_DEFAULT, 'embed')).toMatchObject({ prompts: { query: 'query: ', passage: 'passage: ' }, defaultPromptName: 'query' });
        expect(await vectors(pool, WITH_DEFAULT)).toEqual(await vectors(pool, WITH_DEFAULT, { prompt: 'query: ' }));
        expect((await pool.load(WITHOUT_PROMPTS, 'embed')).prompts).toBeUndefined();
        expect(hub.requests.length).toBe(before);

        // The weights are cached but the prompts file is not (a cache filled before prompts were read).
        rmSync(join(cacheDir, EMBED, 'config_sentence_transformers.json'));
        const failure = pool.load(EMBED, 'embed');
        await expect(failure).rejects.toThrow(ModelLoadError);
        await expect(failure).rejects.toThrow(/config_sentence_transformers\.json\) cannot be read \(not in the cache .*HTTP 503/);
      });
    } finally {
      hub.failWhen(null);
    }
  }, 120_000);
});
