/**
 * Fidelity of the classify and embed options on 1,000 synthetic texts (a fifth of them over the
 * tiny models' 128-token limit): multi-label and single-logit heads (sigmoid), function_to_apply,
 * Matryoshka `dimensions` and sentence-transformers prompts, each against the transformers.js
 * pipeline for the same generated model and against Python's semantics (ReferenceModel: one text
 * at a time, truncation that keeps the closing special token, which transformers.js does not).
 */
import { pipeline, type FeatureExtractionPipeline, type TextClassificationPipeline } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferencePool, type ItemResult } from '#models';
import { configureTransformers } from '../../libs/models/src/model-loader.js';
import { syntheticCorpus } from '../../tools/synthetic-corpus.js';
import { l2Normalize, ReferenceModel } from '../support/reference.js';
import { ensureThreadBuild, ensureTinyModels, FAMILIES, maxAbsDiff, modelId, type Head } from './fixtures.js';

const TOL = 1e-5;
const MAX_TOKENS = 128;
const PIPELINE_BATCH = 64;
// Paragraphs of 80-200 words are over 128 tokens: about a fifth of the texts get truncated.
const TEXTS = Array.from(syntheticCorpus(1000, { seed: 13, paragraphShare: 0.2, overLimitShare: 0.02, emptyShare: 0.01 }), (item) => item.text);

let modelDir: string;
let pool: InferencePool;

beforeAll(async () => {
  ensureThreadBuild();
  modelDir = await ensureTinyModels(['embed', 'multilabel', 'score']);
  configureTransformers({ intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir });
  pool = new InferencePool({ threads: 2, intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir, maxBatchTokens: 4096, maxBatchSize: 32 });
  await pool.start();
}, 180_000);

/** The largest difference of each check, printed once: the figures behind the 1e-5 claims. */
const measured: string[] = [];
function within(what: string, diff: number): void {
  measured.push(`${what} ${diff.toExponential(2)}`);
  expect(diff).toBeLessThanOrEqual(TOL);
}

afterAll(async () => {
  await pool?.close();
  if (measured.length > 0) console.info(`max |difference| over ${TEXTS.length} texts: ${measured.join('; ')}`);
});

function scoresOf(result: ItemResult | undefined): Record<string, number> {
  if (!result?.ok || !('scores' in result)) throw new Error(`expected scores, got ${JSON.stringify(result)}`);
  return result.scores;
}

function embeddingOf(result: ItemResult | undefined): Float32Array {
  if (!result?.ok || !('embedding' in result)) throw new Error(`expected an embedding, got ${JSON.stringify(result)}`);
  return result.embedding;
}

/** Largest |a[label] - b[label]| over both maps' labels (Infinity when the label sets differ). */
function maxLabelDiff(a: Record<string, number>, b: Record<string, number>): number {
  const labels = Object.keys(b);
  if (Object.keys(a).length !== labels.length) return Infinity;
  return Math.max(...labels.map((label) => (label in a ? Math.abs((a[label] as number) - (b[label] as number)) : Infinity)));
}

const softmax = (logits: Record<string, number>): Record<string, number> => {
  const max = Math.max(...Object.values(logits));
  const total = Object.values(logits).reduce((sum, v) => sum + Math.exp(v - max), 0);
  return Object.fromEntries(Object.entries(logits).map(([label, v]) => [label, Math.exp(v - max) / total]));
};

async function withReference<T>(family: (typeof FAMILIES)[number], head: Head, use: (reference: ReferenceModel) => Promise<T>): Promise<T> {
  const reference = await ReferenceModel.load(modelDir, modelId(family, head), head, MAX_TOKENS);
  try {
    return await use(reference);
  } finally {
    await reference.dispose();
  }
}

/** Indices of the texts the tokenizer keeps whole, where the transformers.js pipeline's truncation does not matter. */
const untruncated = (reference: ReferenceModel, texts: readonly string[]): number[] => texts.flatMap((text, i) => (reference.fullLength(text) <= MAX_TOKENS ? [i] : []));

async function inBatches<T>(indices: readonly number[], run: (batch: number[]) => Promise<T[]>): Promise<Map<number, T>> {
  const out = new Map<number, T>();
  for (let start = 0; start < indices.length; start += PIPELINE_BATCH) {
    const batch = indices.slice(start, start + PIPELINE_BATCH);
    (await run(batch)).forEach((value, j) => out.set(batch[j] as number, value));
  }
  return out;
}

describe.each(FAMILIES)('%s: classification functions', (family) => {
  it('multi-label model: sigmoid per label by default, as the text-classification pipeline (top_k null) and Python', async () => {
    const id = modelId(family, 'multilabel');
    const info = await pool.load(id, 'sentiment');
    expect(info.problemType).toBe('multi_label_classification');
    const mine = await pool.encode({ modelId: id, task: 'sentiment', texts: TEXTS, options: {} });
    const classifier = (await pipeline('text-classification', id, { dtype: 'fp32' })) as TextClassificationPipeline;
    try {
      await withReference(family, 'multilabel', async (reference) => {
        const whole = untruncated(reference, TEXTS);
        expect(TEXTS.length - whole.length).toBeGreaterThan(150);
        let python = 0;
        for (let i = 0; i < TEXTS.length; i++) python = Math.max(python, maxLabelDiff(scoresOf(mine.results[i]), await reference.sigmoid(TEXTS[i] as string)));
        within(`${family} multilabel/python`, python);

        const theirs = await inBatches(
          whole,
          async (batch) =>
            (await classifier(
              batch.map((i) => TEXTS[i] as string),
              { top_k: null },
            )) as unknown as Array<Array<{ label: string; score: number }>>,
        );
        let js = 0;
        for (const [i, labels] of theirs) js = Math.max(js, maxLabelDiff(scoresOf(mine.results[i]), Object.fromEntries(labels.map((l) => [l.label, l.score]))));
        within(`${family} multilabel/transformers.js`, js);
        // Sigmoid scores are independent: they do not sum to 1, unlike a softmax.
        const sums = mine.results.map((r) => Object.values(scoresOf(r)).reduce((a, b) => a + b, 0));
        expect(sums.some((sum) => Math.abs(sum - 1) > 0.1)).toBe(true);
      });
    } finally {
      await classifier.dispose();
    }
  }, 120_000);

  it('function_to_apply none gives the raw logits and softmax a distribution, whatever the model', async () => {
    const id = modelId(family, 'multilabel');
    const none = await pool.encode({ modelId: id, task: 'sentiment', texts: TEXTS, options: { functionToApply: 'none' } });
    const soft = await pool.encode({ modelId: id, task: 'sentiment', texts: TEXTS, options: { functionToApply: 'softmax', topK: 2 } });
    await withReference(family, 'multilabel', async (reference) => {
      let rawDiff = 0;
      let softDiff = 0;
      for (let i = 0; i < TEXTS.length; i++) {
        const logits = await reference.logits(TEXTS[i] as string);
        rawDiff = Math.max(rawDiff, maxLabelDiff(scoresOf(none.results[i]), logits));
        const expected = softmax(logits);
        const top2 = scoresOf(soft.results[i]);
        expect(Object.keys(top2)).toHaveLength(2);
        for (const [label, score] of Object.entries(top2)) softDiff = Math.max(softDiff, Math.abs(score - (expected[label] as number)));
      }
      within(`${family} none/python`, rawDiff);
      within(`${family} softmax/python`, softDiff);
    });
  }, 120_000);

  it('single-logit model: sigmoid by default, as Python (transformers.js applies softmax: every score 1)', async () => {
    const id = modelId(family, 'score');
    const mine = await pool.encode({ modelId: id, task: 'sentiment', texts: TEXTS, options: {} });
    const classifier = (await pipeline('text-classification', id, { dtype: 'fp32' })) as TextClassificationPipeline;
    try {
      await withReference(family, 'score', async (reference) => {
        let python = 0;
        for (let i = 0; i < TEXTS.length; i++) python = Math.max(python, maxLabelDiff(scoresOf(mine.results[i]), await reference.sigmoid(TEXTS[i] as string)));
        within(`${family} score/python`, python);
        const scores = mine.results.map((r) => scoresOf(r).LABEL_0 as number);
        expect(Math.min(...scores)).toBeLessThan(0.5);
        expect(Math.max(...scores)).toBeGreaterThan(0.5);
        const theirs = (await classifier(TEXTS.slice(0, 8), { top_k: null })) as unknown as Array<Array<{ label: string; score: number }>>;
        expect(theirs.every((labels) => labels.length === 1 && labels[0]?.score === 1)).toBe(true);
      });
    } finally {
      await classifier.dispose();
    }
  }, 120_000);
});

describe.each(FAMILIES)('%s: embedding options', (family) => {
  const id = modelId(family, 'embed');

  it('dimensions keeps the first N pooled values, then normalises (feature-extraction pipeline, cut and normalised by hand)', async () => {
    const cut = await pool.encode({ modelId: id, task: 'embed', texts: TEXTS, options: { dimensions: 12 } });
    const raw = await pool.encode({ modelId: id, task: 'embed', texts: TEXTS, options: { dimensions: 12, normalize: false } });
    const full = await pool.encode({ modelId: id, task: 'embed', texts: TEXTS, options: { normalize: false } });
    const extractor = (await pipeline('feature-extraction', id, { dtype: 'fp32' })) as FeatureExtractionPipeline;
    try {
      await withReference(family, 'embed', async (reference) => {
        let python = 0;
        for (let i = 0; i < TEXTS.length; i++) {
          const pooled = await reference.meanPooled(TEXTS[i] as string);
          expect(embeddingOf(cut.results[i])).toHaveLength(12);
          python = Math.max(python, maxAbsDiff(embeddingOf(cut.results[i]), l2Normalize(pooled.slice(0, 12))));
          expect(maxAbsDiff(embeddingOf(raw.results[i]), embeddingOf(full.results[i]).subarray(0, 12))).toBe(0);
        }
        within(`${family} dimensions/python`, python);
        const whole = untruncated(reference, TEXTS);
        const theirs = await inBatches(whole, async (batch) => {
          const tensor = await extractor(
            batch.map((i) => TEXTS[i] as string),
            { pooling: 'mean', normalize: false },
          ); // [batch, hidden]
          const [, width] = tensor.dims as [number, number];
          const data = tensor.data as Float32Array;
          return batch.map((_, j) => l2Normalize(Array.from(data.subarray(j * width, j * width + 12))));
        });
        let js = 0;
        for (const [i, expected] of theirs) js = Math.max(js, maxAbsDiff(embeddingOf(cut.results[i]), expected));
        within(`${family} dimensions/transformers.js`, js);
      });
    } finally {
      await extractor.dispose();
    }
  }, 120_000);

  it('prompt_name puts the model prompt before each text before tokenization, as sentence-transformers; prompt does the same with any text', async () => {
    const info = await pool.load(id, 'embed');
    expect(info.prompts).toEqual({ query: 'query: ', passage: 'passage: ' });
    const named = await pool.encode({ modelId: id, task: 'embed', texts: TEXTS, options: { promptName: 'query' } });
    const given = await pool.encode({ modelId: id, task: 'embed', texts: TEXTS, options: { prompt: 'query: ' } });
    const extractor = (await pipeline('feature-extraction', id, { dtype: 'fp32' })) as FeatureExtractionPipeline;
    try {
      await withReference(family, 'embed', async (reference) => {
        const prompted = TEXTS.map((text) => `query: ${text}`);
        let python = 0;
        for (let i = 0; i < TEXTS.length; i++) {
          python = Math.max(python, maxAbsDiff(embeddingOf(named.results[i]), await reference.embed(prompted[i] as string)));
          expect(maxAbsDiff(embeddingOf(given.results[i]), embeddingOf(named.results[i]))).toBe(0);
        }
        within(`${family} prompt/python`, python);
        // The prompt's tokens count: a text truncated with the prompt reports the prompted length.
        const truncated = TEXTS.findIndex((text, i) => reference.fullLength(text) <= MAX_TOKENS && reference.fullLength(prompted[i] as string) > MAX_TOKENS);
        if (truncated !== -1) expect(named.results[truncated]?.truncated).toBe(true);

        const theirs = await inBatches(untruncated(reference, prompted), async (batch) => {
          const tensor = await extractor(
            batch.map((i) => prompted[i] as string),
            { pooling: 'mean', normalize: true },
          ); // [batch, hidden]
          const [, width] = tensor.dims as [number, number];
          const data = tensor.data as Float32Array;
          return batch.map((_, j) => data.subarray(j * width, (j + 1) * width));
        });
        let js = 0;
        for (const [i, expected] of theirs) js = Math.max(js, maxAbsDiff(embeddingOf(named.results[i]), expected));
        within(`${family} prompt/transformers.js`, js);
      });
    } finally {
      await extractor.dispose();
    }
  }, 120_000);

  it('refuses dimensions wider than the model, an unknown prompt_name (naming the known ones), and prompt with prompt_name', async () => {
    await expect(pool.encode({ modelId: id, task: 'embed', texts: ['x'], options: { dimensions: 33 } })).rejects.toThrow(/"dimensions" is 33.*32 values/);
    await expect(pool.encode({ modelId: id, task: 'embed', texts: ['x'], options: { promptName: 'doc' } })).rejects.toThrow(
      /unknown prompt_name "doc"; the model has "query", "passage"/,
    );
    await expect(pool.encode({ modelId: id, task: 'embed', texts: ['x'], options: { prompt: 'a: ', promptName: 'query' } })).rejects.toThrow(
      /give "prompt" or "prompt_name", not both/,
    );
  });
});
