/**
 * Fidelity of text pairs (issue 13 items 3 and 6): 1,200 mixed pairs, a third of them cut, through
 * InferencePool's classify task with the generated NLI cross-encoders of all three families, against
 * the transformers.js model on the same pairs. The reference tokenizes each pair with transformers.js
 * and cuts it token by token as Python's `longest_first` does (transformers.js would drop the closing
 * special token instead), so a difference in pair assembly, token types or truncation shows up.
 */
import { AutoModelForSequenceClassification, AutoTokenizer, Tensor, type PreTrainedModel, type PreTrainedTokenizer } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferencePool, type ItemResult } from '#models';
import { configureTransformers } from '../../libs/models/src/model-loader.js';
import { ensurePairModels, ensureThreadBuild, FAMILIES, mixedPairs, modelId, type Family } from './fixtures.js';

const TOL = 1e-5;
const PAIRS_PER_FAMILY = 400;
const MAX_TOKENS = 128;
/** Special tokens before, between and after the texts: [CLS] a [SEP] b [SEP]; <s> a </s></s> b </s>. */
const SPECIALS: Record<Family, [number, number, number]> = { bert: [1, 1, 1], distilbert: [1, 1, 1], roberta: [1, 2, 1] };

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

/** Python's longest_first one token at a time: the longer text loses its last token; on a tie, the one that was shorter to begin with (the first if equal). */
function pythonKeep(aLength: number, bLength: number, room: number): [number, number] {
  let [a, b] = [aLength, bLength];
  const tieFromFirst = aLength <= bLength;
  while (a + b > room) {
    if (a > b || (a === b && tieFromFirst)) a--;
    else b--;
  }
  return [a, b];
}

interface Reference {
  ids: bigint[];
  types: bigint[];
  cut: boolean;
}

function referenceInput(tokenizer: PreTrainedTokenizer, family: Family, text: string, pair: string): Reference {
  // transformers.js takes an empty text_pair for no pair: encode "x" as the second text and keep none of its tokens.
  const full = tokenizer(text, { text_pair: pair === '' ? 'x' : pair, return_token_type_ids: true }) as { input_ids: Tensor; token_type_ids?: Tensor };
  const ids = Array.from(full.input_ids.data as BigInt64Array);
  const types = full.token_type_ids ? Array.from(full.token_type_ids.data as BigInt64Array) : ids.map(() => 0n);
  const [pre, mid, post] = SPECIALS[family];
  const aLength = tokenizer.encode(text, { add_special_tokens: false }).length;
  const bLength = ids.length - pre - mid - post - aLength;
  const [aKeep, bKeep] = pythonKeep(aLength, pair === '' ? 0 : bLength, MAX_TOKENS - pre - mid - post);
  const keep = (xs: bigint[]) => [...xs.slice(0, pre + aKeep), ...xs.slice(pre + aLength, pre + aLength + mid + bKeep), ...xs.slice(xs.length - post)];
  return { ids: keep(ids), types: keep(types), cut: aKeep < aLength || bKeep < (pair === '' ? 0 : bLength) };
}

async function referenceScores(model: PreTrainedModel, family: Family, input: Reference): Promise<number[]> {
  const dims = [1, input.ids.length];
  const feeds: Record<string, Tensor> = {
    input_ids: new Tensor('int64', BigInt64Array.from(input.ids), dims),
    attention_mask: new Tensor('int64', new BigInt64Array(input.ids.length).fill(1n), dims),
  };
  if (family === 'bert') feeds.token_type_ids = new Tensor('int64', BigInt64Array.from(input.types), dims);
  const logits = Array.from((await model(feeds)).logits.data as Float32Array, Number);
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const total = exps.reduce((s, e) => s + e, 0);
  return exps.map((e) => e / total);
}

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
        const input = referenceInput(tokenizer, family, text, pair);
        const expected = await referenceScores(model, family, input);
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
