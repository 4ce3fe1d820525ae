import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { syntheticCorpus } from '../../tools/synthetic-corpus.js';
import type { AppProcess } from '../support/app-process.js';
import { ReferenceModel } from '../support/reference.js';
import { finished, MODEL_DIR, postNdjson, resultsOf, Stack, waitFor, type ResultLine } from '../support/stack.js';

const FAMILIES = ['bert', 'distilbert', 'roberta'] as const;
const TINY_MAX_TOKENS = 128;
const CORPUS_SIZE = 2000;

/** Mixed lengths with many texts over the tiny models' 128-token limit, unicode, emoji and empty strings. */
function corpus(seed: number): Array<{ id: string; text: string }> {
  return [...syntheticCorpus(CORPUS_SIZE, { seed, paragraphShare: 0.15, overLimitShare: 0.03, emptyShare: 0.01 })];
}

function norm(vector: number[]): number {
  return Math.sqrt(vector.reduce((acc, v) => acc + v * v, 0));
}

/** A sample for parity checks: every empty text, some over the limit, the rest spread over the corpus. */
function sample(items: Array<{ text: string }>, count: number): number[] {
  const picked = new Set<number>();
  items.forEach((item, i) => item.text === '' && picked.add(i));
  items.forEach((item, i) => item.text.split(' ').length > 300 && picked.size < count / 2 && picked.add(i));
  for (let i = 0; picked.size < count; i += Math.floor(items.length / count) + 1) picked.add(i % items.length);
  return [...picked];
}

describe('end to end: HTTP -> Redis -> workers -> result files', () => {
  let stack: Stack;
  let api: AppProcess;

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny' });
    stack = await Stack.start({ modelDir: MODEL_DIR });
    api = await stack.startApi({ SHARD_MAX_TEXTS: '100' });
    const preload = FAMILIES.flatMap((f) => [`shardwise-random/${f}-tiny-embed`, `shardwise-random/${f}-tiny-sentiment`]);
    await stack.startWorker({ INFERENCE_THREADS: '2', PRELOAD_MODELS: preload.join(',') });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  for (const family of FAMILIES) {
    it(`embeds ${CORPUS_SIZE} mixed texts with ${family}: complete, in order, unit norm, equal to one-at-a-time`, async () => {
      const model = `shardwise-random/${family}-tiny-embed`;
      const items = corpus(11);
      const submitted = await postNdjson(api.baseUrl, { task: 'embed', model }, items);
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
      const job = await waitFor(api.baseUrl, submitted.body.id as string, finished);
      expect(job.state).toBe('completed');
      expect(job.counts).toMatchObject({ total: CORPUS_SIZE, succeeded: CORPUS_SIZE, failed: 0 });
      expect(job.shards.done).toBe(job.shards.total);

      const lines = await resultsOf(api.baseUrl, job.id);
      expect(lines.map((l) => l.index)).toEqual(items.map((_, i) => i));
      expect(lines.map((l) => l.id)).toEqual(items.map((item) => item.id));
      for (const line of lines) {
        if (!('embedding' in line)) throw new Error(`no embedding: ${JSON.stringify(line)}`);
        expect(line.embedding).toHaveLength(32);
        expect(Math.abs(norm(line.embedding) - 1)).toBeLessThan(1e-4);
      }

      const reference = await ReferenceModel.load(MODEL_DIR, model, 'embed', TINY_MAX_TOKENS);
      const overLimit = items.filter((item) => reference.fullLength(item.text) > TINY_MAX_TOKENS).length;
      expect(overLimit).toBeGreaterThan(50);
      expect(job.truncated).toBe(overLimit);
      expect(lines.filter((l) => 'truncated' in l && l.truncated)).toHaveLength(overLimit);
      for (const i of sample(items, 40)) {
        const expected = await reference.embed(items[i].text);
        const actual = (lines[i] as Extract<ResultLine, { embedding: number[] }>).embedding;
        const worst = Math.max(...expected.map((v, d) => Math.abs(v - actual[d])));
        expect(worst, `item ${i} (${items[i].text.length} chars)`).toBeLessThan(1e-5);
      }
      await reference.dispose();
    });

    it(`classifies ${CORPUS_SIZE} mixed texts with ${family}: labels from id2label, scores sum to 1, equal to one-at-a-time`, async () => {
      const model = `shardwise-random/${family}-tiny-sentiment`;
      const items = corpus(12);
      const submitted = await postNdjson(api.baseUrl, { task: family === 'bert' ? 'classify' : 'sentiment', model }, items);
      expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
      const job = await waitFor(api.baseUrl, submitted.body.id as string, finished);
      expect(job.state).toBe('completed');
      expect(job.counts.succeeded).toBe(CORPUS_SIZE);

      const reference = await ReferenceModel.load(MODEL_DIR, model, 'sentiment', TINY_MAX_TOKENS);
      const labels = reference.labels ?? [];
      expect(labels.length).toBeGreaterThanOrEqual(2);
      const lines = await resultsOf(api.baseUrl, job.id);
      expect(lines.map((l) => l.index)).toEqual(items.map((_, i) => i));
      const seen = new Set<string>();
      for (const line of lines) {
        if (!('label' in line)) throw new Error(`no label: ${JSON.stringify(line)}`);
        expect(labels).toContain(line.label);
        expect(Object.keys(line.scores).sort()).toEqual([...labels].sort());
        const total = Object.values(line.scores).reduce((a, b) => a + b, 0);
        expect(Math.abs(total - 1)).toBeLessThan(1e-5);
        expect(line.score).toBe(Math.max(...Object.values(line.scores)));
        expect(line.scores[line.label]).toBe(line.score);
        seen.add(line.label);
      }
      // Random heads still spread texts over more than one label; a constant answer would hide a broken head.
      expect(seen.size).toBeGreaterThan(1);
      for (const i of sample(items, 40)) {
        const expected = await reference.classify(items[i].text);
        const actual = (lines[i] as Extract<ResultLine, { scores: Record<string, number> }>).scores;
        for (const label of labels) expect(Math.abs(expected[label] - actual[label]), `item ${i} ${label}`).toBeLessThan(1e-5);
      }
      await reference.dispose();
    });
  }

  it('gives a text the same embedding alone as batched with much longer texts', async () => {
    const model = 'shardwise-random/roberta-tiny-embed';
    const short = 'short text 🙂 café';
    const long = [...syntheticCorpus(30, { seed: 5, paragraphShare: 1 })].map((item) => item.text);
    const alone = await postNdjson(api.baseUrl, { task: 'embed', model }, [{ text: short }]);
    const mixed = await postNdjson(api.baseUrl, { task: 'embed', model }, [...long.map((text) => ({ text })), { text: short }]);
    const [a, b] = await Promise.all([alone, mixed].map((s) => waitFor(api.baseUrl, s.body.id as string, finished)));
    const single = (await resultsOf(api.baseUrl, a.id))[0] as Extract<ResultLine, { embedding: number[] }>;
    const batched = (await resultsOf(api.baseUrl, b.id)).at(-1) as Extract<ResultLine, { embedding: number[] }>;
    const worst = Math.max(...single.embedding.map((v, d) => Math.abs(v - batched.embedding[d])));
    expect(worst).toBeLessThan(1e-5);
  });

  it('accepts a small JSON job of plain strings and serves embeddings as little-endian float32', async () => {
    const texts = ['first', '', 'third text with émojis 🚀', 'x '.repeat(400)];
    const response = await fetch(`${api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'embed', model: 'shardwise-random/bert-tiny-embed', inputs: texts, metadata: { run: 'json' } }),
    });
    expect(response.status).toBe(202);
    expect(response.headers.get('location')).toMatch(/^\/v1\/jobs\/job_/);
    const { id } = (await response.json()) as { id: string };
    const job = await waitFor(api.baseUrl, id, finished);
    expect(job.metadata).toEqual({ run: 'json' });
    expect(job.truncated).toBe(1);
    const lines = (await resultsOf(api.baseUrl, id)) as Array<Extract<ResultLine, { embedding: number[] }>>;
    expect(lines.map((l) => l.id)).toEqual(['0', '1', '2', '3']);

    const binary = await fetch(`${api.baseUrl}/v1/jobs/${id}/results?format=f32`);
    expect(binary.headers.get('x-embedding-dimensions')).toBe('32');
    expect(binary.headers.get('x-item-count')).toBe('4');
    const buffer = Buffer.from(await binary.arrayBuffer());
    expect(buffer.length).toBe(4 * 32 * 4);
    for (let i = 0; i < 4; i++) {
      for (let d = 0; d < 32; d++) expect(buffer.readFloatLE((i * 32 + d) * 4)).toBe(Math.fround(lines[i].embedding[d]));
    }
  });
});
