/**
 * Fidelity of text pairs (issue 13 items 3 and 6): 1,200 mixed pairs, a third of them cut, through
 * InferencePool's classify task with the generated NLI cross-encoders of all three families, against
 * the transformers.js model on the same pairs. The reference tokenizes each pair with transformers.js
 * and cuts it token by token as Python's `longest_first` does (transformers.js would drop the closing
 * special token instead), so a difference in pair assembly, token types or truncation shows up.
 */
import { AutoModelForSequenceClassification, AutoTokenizer } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferencePool, type ItemResult } from '#models';
import { configureTransformers } from '../../libs/models/src/model-loader.js';
import { referenceLogits, referencePairInput, softmax } from '../support/pair-reference.js';
import { ensurePairModels, ensureThreadBuild, FAMILIES, mixedPairs, modelId } from './fixtures.js';

const TOL = 1e-5;
const PAIRS_PER_FAMILY = 400;

let pool: InferencePool;

beforeAll(async () => {
  ensureThreadBuild();
  const modelDir = await ensurePairModels();
  configureTransformers({ intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir });
  pool = new InferencePool({ threads: 2, intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir, maxBatchTokens: 4096, maxBatchSize: 32 });
  await pool.start();
}, 300_000);

afterAll(async () => {
  await pool?.close();
});

function scoresOf(result: ItemResult | undefined): Record<string, number> {
  if (!result?.ok || !('scores' in result)) throw new Error(`expected label scores, got ${JSON.stringify(result)}`);
  return result.scores;
}

describe.each(FAMILIES)('%s NLI cross-encoder on text pairs', (family) => {
  it(`matches transformers.js with Python's truncation on ${PAIRS_PER_FAMILY} mixed pairs within ${TOL}`, async () => {
    const id = modelId(family, 'nli');
    const tokenizer = await AutoTokenizer.from_pretrained(id);
    const model = await AutoModelForSequenceClassification.from_pretrained(id, { dtype: 'fp32' });
    try {
      const pairs = mixedPairs(PAIRS_PER_FAMILY, 23);
      const response = await pool.encode({ modelId: id, task: 'sentiment', texts: pairs.map(([a]) => a), textPairs: pairs.map(([, b]) => b), options: { topK: null } });
      const labels = ['contradiction', 'entailment', 'neutral'];
      let maxDiff = 0;
      let cut = 0;
      for (const [i, [text, pair]] of pairs.entries()) {
        const input = referencePairInput(tokenizer, family, text, pair, 128);
        const expected = softmax(await referenceLogits(model, family, input));
        const result = response.results[i];
        const mine = scoresOf(result);
        expect(Object.keys(mine).sort()).toEqual(labels);
        labels.forEach((label, j) => {
          maxDiff = Math.max(maxDiff, Math.abs((mine[label] as number) - (expected[j] as number)));
        });
        expect(result?.tokens).toBe(input.ids.length);
        expect(result?.truncated).toBe(input.cut);
        if (input.cut) cut++;
      }
      expect(maxDiff).toBeLessThanOrEqual(TOL);
      expect(cut).toBeGreaterThan(PAIRS_PER_FAMILY / 5);
    } finally {
      await model.dispose();
    }
  }, 300_000);
});

describe.each(FAMILIES)('%s rerank cross-encoder on query-document pairs', (family) => {
  it(`scores ${PAIRS_PER_FAMILY} mixed pairs as sigmoid(logit) of transformers.js with Python's truncation, and raw logits with rawScores`, async () => {
    const id = modelId(family, 'score');
    const tokenizer = await AutoTokenizer.from_pretrained(id);
    const model = await AutoModelForSequenceClassification.from_pretrained(id, { dtype: 'fp32' });
    try {
      const pairs = mixedPairs(PAIRS_PER_FAMILY, 29);
      const request = { modelId: id, task: 'rerank', texts: pairs.map(([a]) => a), textPairs: pairs.map(([, b]) => b) } as const;
      const scored = await pool.encode({ ...request, options: {} });
      const raw = await pool.encode({ ...request, options: { rawScores: true } });
      let maxDiff = 0;
      for (const [i, [text, pair]] of pairs.entries()) {
        const [logit] = await referenceLogits(model, family, referencePairInput(tokenizer, family, text, pair, 128));
        const relevance = (result: ItemResult | undefined) => (result?.ok && 'relevance' in result ? result.relevance : Number.NaN);
        maxDiff = Math.max(maxDiff, Math.abs(relevance(scored.results[i]) - 1 / (1 + Math.exp(-(logit as number)))), Math.abs(relevance(raw.results[i]) - (logit as number)));
      }
      expect(maxDiff).toBeLessThanOrEqual(TOL);
    } finally {
      await model.dispose();
    }
  }, 300_000);
});
