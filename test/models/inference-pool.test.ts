/**
 * Model tests: real tiny random models for all three families, run through
 * InferencePool with 2 threads and compared with transformers.js pipelines.
 */
import { pipeline, type FeatureExtractionPipeline, type TextClassificationPipeline } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_ENCODE_OPTIONS, InferencePool, type ItemResult } from '#models';
import { configureTransformers } from '../../libs/models/src/model-loader.js';
import { ModelRunner } from '../../libs/models/src/model-runner.js';
import { FAMILIES, ensureThreadBuild, ensureTinyModels, maxAbsDiff, mixedTexts, modelId } from './fixtures.js';

const TOL = 1e-5;
const SHORT = 'Short text about a fox.';
const LONG = Array.from({ length: 90 }, (_, i) => `word${i % 13} and more`).join(' ');
/** What ModelRunner.run gets for a mean-pooled, normalised embedding (the defaults). */
const EMBED_OPTIONS = DEFAULT_ENCODE_OPTIONS;

let modelDir: string;
let pool: InferencePool;

beforeAll(async () => {
  ensureThreadBuild();
  modelDir = await ensureTinyModels();
  // Same transformers.js setup as the threads (offline, quiet) for the in-process references.
  configureTransformers({ intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir });
  pool = new InferencePool({ threads: 2, intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir, maxBatchTokens: 1024, maxBatchSize: 16 });
  await pool.start();
}, 180_000);

afterAll(async () => {
  await pool?.close();
});

function embedding(result: ItemResult | undefined): Float32Array {
  if (!result?.ok || !('embedding' in result)) throw new Error(`expected an embedding, got ${JSON.stringify(result)}`);
  return result.embedding;
}

function scores(result: ItemResult | undefined): Record<string, number> {
  if (!result?.ok || !('scores' in result)) throw new Error(`expected scores, got ${JSON.stringify(result)}`);
  return result.scores;
}

describe.each(FAMILIES)('%s tiny models', (family) => {
  const embedId = modelId(family, 'embed');
  const sentimentId = modelId(family, 'sentiment');

  it('loads and reports model info', async () => {
    const info = await pool.load(embedId, 'embed');
    expect(info).toMatchObject({ id: embedId, family, tasks: ['embed'], dimensions: 32, labels: null, maxTokens: 128 });
    expect(info.dtypes).toEqual(expect.arrayContaining(['fp32', 'q8']));
    const clf = await pool.load(sentimentId, 'sentiment');
    expect(clf.tasks).toEqual(['sentiment']);
    expect(clf.labels?.length).toBeGreaterThanOrEqual(2);
  });

  it('embeddings match transformers.js feature-extraction (mean, normalize) and are batch invariant', async () => {
    const extractor = (await pipeline('feature-extraction', embedId, { dtype: 'fp32' })) as FeatureExtractionPipeline;
    try {
      const reference = (await extractor(SHORT, { pooling: 'mean', normalize: true })).data as Float32Array;
      const alone = await pool.encode({ modelId: embedId, task: 'embed', texts: [SHORT], options: {} });
      const mixed = await pool.encode({ modelId: embedId, task: 'embed', texts: [LONG, `${LONG} x`, SHORT, LONG.slice(0, 200)], options: {} });
      expect(maxAbsDiff(embedding(alone.results[0]), reference)).toBeLessThan(TOL);
      expect(maxAbsDiff(embedding(mixed.results[2]), embedding(alone.results[0]))).toBeLessThan(TOL);
      const cls = await pool.encode({ modelId: embedId, task: 'embed', texts: [SHORT], options: { pooling: 'cls', normalize: false } });
      const clsRef = (await extractor(SHORT, { pooling: 'cls', normalize: false })).data as Float32Array;
      expect(maxAbsDiff(embedding(cls.results[0]), clsRef)).toBeLessThan(TOL);
    } finally {
      await extractor.dispose();
    }
  });

  it('sentiment scores match transformers.js text-classification (top_k null) and are batch invariant', async () => {
    const classifier = (await pipeline('text-classification', sentimentId, { dtype: 'fp32' })) as TextClassificationPipeline;
    try {
      const reference = (await classifier(SHORT, { top_k: null })) as Array<{ label: string; score: number }>;
      const alone = await pool.encode({ modelId: sentimentId, task: 'sentiment', texts: [SHORT], options: {} });
      const mixed = await pool.encode({ modelId: sentimentId, task: 'sentiment', texts: [LONG, SHORT, `${LONG} y`], options: { topK: null } });
      const mine = scores(alone.results[0]);
      expect(Object.keys(mine).sort()).toEqual(reference.map((r) => r.label).sort());
      for (const { label, score } of reference) {
        expect(Math.abs((mine[label] as number) - score)).toBeLessThan(TOL);
        expect(Math.abs((scores(mixed.results[1])[label] as number) - (mine[label] as number))).toBeLessThan(TOL);
      }
      const top = alone.results[0];
      expect(top?.ok && 'label' in top && top.label).toBe(reference[0]?.label);
      const top1 = await pool.encode({ modelId: sentimentId, task: 'sentiment', texts: [SHORT], options: { topK: 1 } });
      expect(Object.keys(scores(top1.results[0]))).toEqual([reference[0]?.label]);
    } finally {
      await classifier.dispose();
    }
  });

  it('truncates keeping the special tokens at both ends (and documents what transformers.js does)', async () => {
    const runner = await ModelRunner.load({ modelId: embedId, task: 'embed' }, { intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir });
    try {
      const texts = [LONG, LONG + LONG, SHORT, ''];
      const { ids, lengths, original } = runner.tokenize(texts, true);
      const tokenizer = (runner as unknown as { parts: { tokenizer: import('@huggingface/transformers').PreTrainedTokenizer } }).parts.tokenizer;
      let offset = 0;
      texts.forEach((text, i) => {
        const full = tokenizer.encode(text);
        const kept = [...ids.subarray(offset, offset + (lengths[i] as number))];
        offset += lengths[i] as number;
        expect(original[i]).toBe(full.length);
        if (full.length > 128) {
          expect(kept).toHaveLength(128);
          // Python: tokenizer(text, truncation=True, max_length=128) == full[:127] + [closing special]
          expect(kept).toEqual([...full.slice(0, 127), full[full.length - 1]]);
          expect(kept[127]).toBe(family === 'roberta' ? tokenizer.eos_token_id : tokenizer.sep_token_id);
          // transformers.js's own truncation cuts the closing token off instead:
          const theirs = tokenizer(text, { truncation: true, max_length: 128, return_tensor: false }).input_ids as number[];
          expect(theirs).toEqual(full.slice(0, 128));
          expect(theirs[127]).not.toBe(full[full.length - 1]);
        } else {
          expect(kept).toEqual(full);
        }
      });
      expect(lengths[3]).toBe(2); // '' is just the two special tokens
    } finally {
      await runner.dispose();
    }
  });

  it('isolates an inference failure to the poison item', async () => {
    const runner = await ModelRunner.load({ modelId: embedId, task: 'embed' }, { intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir });
    try {
      const good = runner.tokenize([SHORT, 'another text', 'third'], true);
      const ids = Int32Array.from(good.ids);
      ids[(good.lengths[0] as number) + 1] = 10_000_000; // out-of-vocabulary id in item 1: Gather fails
      const run = await runner.run(ids, good.lengths, EMBED_OPTIONS);
      expect(run.failed.map((f) => f.index)).toEqual([1]);
      const clean = await runner.run(good.ids, good.lengths, EMBED_OPTIONS);
      expect(maxAbsDiff(run.values.subarray(0, 32), clean.values.subarray(0, 32))).toBeLessThan(TOL);
      expect(maxAbsDiff(run.values.subarray(64), clean.values.subarray(64))).toBeLessThan(TOL);
    } finally {
      await runner.dispose();
    }
  });
});

describe('a shuffled mixed list of ~300 texts', () => {
  const texts = mixedTexts(300);

  it.each(FAMILIES)('%s: results stay in input order, with truncation flags and TEXT_TOO_LONG', async (family) => {
    const id = modelId(family, 'embed');
    const forward = await pool.encode({ modelId: id, task: 'embed', texts, options: {} });
    const reversed = await pool.encode({ modelId: id, task: 'embed', texts: [...texts].reverse(), options: {} });
    expect(forward.results).toHaveLength(texts.length);
    expect(forward.stats.batches).toBeGreaterThan(2);
    expect(forward.stats.paddedTokens).toBeGreaterThanOrEqual(forward.stats.tokens);
    let truncated = 0;
    texts.forEach((_, i) => {
      const a = forward.results[i];
      const b = reversed.results[texts.length - 1 - i];
      expect(maxAbsDiff(embedding(a), embedding(b))).toBeLessThan(TOL);
      if (a?.ok && a.truncated) {
        truncated++;
        expect(a.tokens).toBe(128);
      }
    });
    expect(truncated).toBeGreaterThan(10);
    // Spot-check order against single-text encodes, including the empty string and the longest text.
    const probes = [texts.indexOf(''), texts.findIndex((t) => /[東你]/.test(t)), texts.reduce((m, t, i) => (t.length > (texts[m] as string).length ? i : m), 0)];
    for (const i of probes) {
      const single = await pool.encode({ modelId: id, task: 'embed', texts: [texts[i] as string], options: {} });
      expect(maxAbsDiff(embedding(single.results[0]), embedding(forward.results[i]))).toBeLessThan(TOL);
      expect(single.results[0]?.tokens).toBe(forward.results[i]?.tokens);
    }

    const strict = await pool.encode({ modelId: modelId(family, 'sentiment'), task: 'sentiment', texts, options: { truncate: false } });
    strict.results.forEach((r, i) => {
      const wasTruncated = forward.results[i]?.ok && (forward.results[i] as { truncated: boolean }).truncated;
      if (wasTruncated) {
        expect(r.ok).toBe(false);
        if (!r.ok) {
          expect(r.error.code).toBe('TEXT_TOO_LONG');
          expect(r.error.message).toMatch(new RegExp(`^text has ${r.tokens} tokens; model ${modelId(family, 'sentiment')} accepts at most 128$`));
          expect(r.tokens).toBeGreaterThan(128);
        }
      } else {
        expect(r.ok, JSON.stringify(r)).toBe(true);
      }
    });
  });
});
