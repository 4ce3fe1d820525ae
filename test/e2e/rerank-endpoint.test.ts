/**
 * POST /v1/rerank (TEI's shape) through the built API and worker and a real Redis: tenant auth, zod
 * validation errors naming the field, and the texts sorted by sigmoid relevance (raw logits with
 * raw_scores), equal to transformers.js on the same pairs.
 */
import { AutoModelForSequenceClassification, AutoTokenizer, env } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePairModels } from '../models/fixtures.js';
import { referenceLogits, referencePairInput } from '../support/pair-reference.js';
import { MODEL_DIR, newApiKey, request, sha256Hex, Stack } from '../support/stack.js';

const RERANKER = 'shardwise-random/bert-tiny-score';
const QUERY = 'where does the quick brown fox sleep?';
const TEXTS = ['the fox sleeps in a den', 'queues and workers', '', Array.from({ length: 200 }, (_, i) => `token${i % 9}`).join(' '), 'a lazy dog'];

type Ranked = { index: number; score: number; text?: string };

describe('POST /v1/rerank', () => {
  let stack: Stack;
  let base: string;
  const key = newApiKey();

  const rerank = (body: unknown, apiKey: string | null = key) =>
    request<Ranked[] & { error?: { code: string; field?: string; message: string } }>(base, '/v1/rerank', {
      method: 'POST',
      key: apiKey ?? undefined,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  beforeAll(async () => {
    await ensurePairModels();
    stack = await Stack.start({ env: { API_KEYS: `acme:${sha256Hex(key)}` } });
    base = (await stack.startApi({ DEFAULT_MODEL_RERANK: RERANKER })).baseUrl;
    await stack.startWorker({ PRELOAD_MODELS: RERANKER });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('needs an API key, like /v1/embeddings', async () => {
    expect((await rerank({ query: QUERY, texts: TEXTS }, null)).status).toBe(401);
    expect((await rerank({ query: QUERY, texts: TEXTS }, newApiKey())).status).toBe(401);
  });

  it('answers the texts sorted by sigmoid(logit), as transformers.js scores the pairs', async () => {
    const reply = await rerank({ model: RERANKER, query: QUERY, texts: TEXTS, return_text: true });
    expect(reply.status, JSON.stringify(reply.body)).toBe(200);
    const ranking = reply.body;
    expect(ranking.map((r) => r.index).sort()).toEqual([0, 1, 2, 3, 4]);
    for (let k = 1; k < ranking.length; k++) expect((ranking[k - 1] as Ranked).score).toBeGreaterThanOrEqual((ranking[k] as Ranked).score);

    env.localModelPath = MODEL_DIR;
    env.allowRemoteModels = false;
    const tokenizer = await AutoTokenizer.from_pretrained(RERANKER);
    const model = await AutoModelForSequenceClassification.from_pretrained(RERANKER, { dtype: 'fp32' });
    try {
      const logits = await Promise.all(TEXTS.map(async (text) => (await referenceLogits(model, 'bert', referencePairInput(tokenizer, 'bert', QUERY, text, 128)))[0] as number));
      for (const ranked of ranking) {
        expect(ranked.text).toBe(TEXTS[ranked.index]);
        expect(Math.abs(ranked.score - 1 / (1 + Math.exp(-(logits[ranked.index] as number))))).toBeLessThan(1e-6);
      }
      // raw_scores: the logits themselves; the default model (DEFAULT_MODEL_RERANK) when none is named; no text unless asked.
      const raw = await rerank({ query: QUERY, texts: TEXTS, raw_scores: true });
      expect(raw.status, JSON.stringify(raw.body)).toBe(200);
      for (const ranked of raw.body) {
        expect(ranked).not.toHaveProperty('text');
        expect(Math.abs(ranked.score - (logits[ranked.index] as number))).toBeLessThan(1e-5);
      }
    } finally {
      await model.dispose();
    }
  }, 60_000);

  it('refuses over-long pairs with truncate false, naming the field', async () => {
    const reply = await rerank({ query: QUERY, texts: TEXTS, truncate: false });
    expect(reply.status).toBe(400);
    expect(reply.body.error).toMatchObject({ code: 'TEXT_TOO_LONG', field: 'texts' });
  }, 30_000);

  it('names the bad field of a bad body', async () => {
    const cases: Array<[unknown, string, string]> = [
      [{ texts: ['a'] }, 'MISSING_TEXT', 'query'],
      [{ query: 'q' }, 'MISSING_TEXT', 'texts'],
      [{ query: 'q', texts: [] }, 'INVALID_INPUT', 'texts'],
      [{ query: 'q', texts: ['a', 7] }, 'INVALID_INPUT', 'texts[1]'],
      [{ query: 'q', texts: ['a'], raw_scores: 'yes' }, 'INVALID_INPUT', 'raw_scores'],
      [{ query: 'q', texts: ['a'], top_k: 3 }, 'INVALID_INPUT', 'top_k'],
      [['q'], 'INVALID_INPUT', ''],
    ];
    for (const [body, code, field] of cases) {
      const reply = await rerank(body);
      expect(reply.status, JSON.stringify(body)).toBe(400);
      expect(reply.body.error, JSON.stringify(body)).toMatchObject({ code, ...(field ? { field } : {}) });
    }
    const notCrossEncoder = await rerank({ model: 'shardwise-random/bert-tiny-nli', query: 'q', texts: ['a'] });
    expect(notCrossEncoder.status).toBe(400);
    expect(notCrossEncoder.body.error?.code).toBe('INVALID_MODEL');
  });
});
