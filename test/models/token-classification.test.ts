/**
 * Fidelity of token-classification through InferencePool (2 threads, batched and padded), on 1,000
 * mixed texts per family (empty, emoji, CJK, over-long and so truncated), against:
 * - transformers.js's token-classification pipeline for the same generated model, aggregation
 *   `none` (texts it does not truncate: it truncates without keeping the closing special token);
 * - the model run alone on each text, truncated as Python does, with a plain re-implementation of
 *   Python's TokenClassificationPipeline aggregation written from its documentation (`simple`,
 *   `first`, `average`, `max`; transformers.js has only `none` and a different `simple`).
 */
import { AutoModelForTokenClassification, AutoTokenizer, pipeline, Tensor, type TokenClassificationPipeline } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { alignTokens, type Entity, InferencePool, type ItemResult, type TokenAlignment, tokensToString } from '#models';
import { alignableTokenizer } from '../../libs/models/src/alignable-tokenizer.js';
import { configureTransformers } from '../../libs/models/src/model-loader.js';
import { ensureThreadBuild, FAMILIES, mixedTexts } from './fixtures.js';
import { ensureNerModels, nerModelId } from './token-classification-support.js';

const TOL = 1e-5;
const TEXTS = mixedTexts(1000, 13);
const MAX_TOKENS = 128;

let pool: InferencePool;

beforeAll(async () => {
  ensureThreadBuild();
  const modelDir = await ensureNerModels();
  configureTransformers({ intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir });
  pool = new InferencePool({ threads: 2, intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir, maxBatchTokens: 2048, maxBatchSize: 32 });
  await pool.start();
}, 300_000);

afterAll(async () => {
  await pool?.close();
});

function entities(result: ItemResult | undefined): Entity[] {
  if (!result?.ok || !('entities' in result)) throw new Error(`expected entities, got ${JSON.stringify(result)}`);
  return result.entities;
}

/** Per text: its kept ids (Python truncation: the closing special token stays), softmax scores `// [tokens, labels]` and alignment. */
interface Reference {
  ids: number[];
  truncated: boolean;
  probs: number[][];
  alignment: TokenAlignment;
}

function softmax(row: ArrayLike<number>): number[] {
  const values = Array.from(row);
  const max = Math.max(...values);
  const exps = values.map((v) => Math.exp(v - max));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((e) => e / sum);
}

const argmax = (xs: readonly number[]): number => xs.reduce((best, x, i) => (x > (xs[best] as number) ? i : best), 0);

/** Python's TokenClassificationPipeline.aggregate/aggregate_words/group_entities, written out plainly. */
function pythonEntities(ref: Reference, labels: readonly string[], strategy: 'simple' | 'first' | 'average' | 'max', ignore: readonly string[]): Array<Record<string, unknown>> {
  const pre = ref.ids
    .map((_, index) => ({ index, scores: ref.probs[index] as number[], kind: ref.alignment.kinds[index], word: ref.alignment.words[index] as string }))
    .filter((p) => p.kind !== 2)
    .map((p) => ({ ...p, start: ref.alignment.offsets[2 * p.index], end: ref.alignment.offsets[2 * p.index + 1], isSubword: p.kind === 1 }));
  type Word = { entity: string; score: number; tokens: string[]; start: number | undefined; end: number | undefined };
  let words: Word[];
  if (strategy === 'simple') {
    words = pre.map((p) => ({ entity: labels[argmax(p.scores)] as string, score: Math.max(...p.scores), tokens: [p.word], start: p.start, end: p.end }));
  } else {
    const groups: (typeof pre)[] = [];
    for (const p of pre) {
      if (groups.length > 0 && p.isSubword) groups[groups.length - 1]?.push(p);
      else groups.push([p]);
    }
    words = groups.map((group) => {
      let scores: number[];
      if (strategy === 'first') scores = group[0]?.scores as number[];
      else if (strategy === 'max') scores = group.reduce((best, p) => (Math.max(...p.scores) > Math.max(...best.scores) ? p : best)).scores;
      else scores = labels.map((_, i) => group.reduce((sum, p) => sum + (p.scores[i] as number), 0) / group.length);
      const top = argmax(scores);
      return { entity: labels[top] as string, score: scores[top] as number, tokens: group.map((p) => p.word), start: group[0]?.start, end: group[group.length - 1]?.end };
    });
  }
  const tag = (entity: string): [string, string] => (entity.startsWith('B-') ? ['B', entity.slice(2)] : entity.startsWith('I-') ? ['I', entity.slice(2)] : ['I', entity]);
  const grouped: Word[][] = [];
  for (const word of words) {
    const open = grouped[grouped.length - 1];
    const [bi, name] = tag(word.entity);
    if (open && name === tag(open[open.length - 1]?.entity as string)[1] && bi !== 'B') open.push(word);
    else grouped.push([word]);
  }
  return grouped
    .map((group) => ({
      entity_group: (group[0] as Word).entity.split('-').slice(1).join('-') || (group[0] as Word).entity,
      score: group.reduce((sum, w) => sum + w.score, 0) / group.length,
      word: tokensToString(
        group.flatMap((w) => w.tokens),
        ref.alignment.tokenText,
      ),
      start: group[0]?.start === -1 ? null : group[0]?.start,
      end: group[group.length - 1]?.end === -1 ? null : group[group.length - 1]?.end,
    }))
    .filter((e) => !ignore.includes(e.entity_group));
}

describe.each(FAMILIES)('%s tiny ner model', (family) => {
  const id = nerModelId(family);
  const references: Reference[] = [];
  let labels: string[] = [];
  let unkId: number | undefined;

  beforeAll(async () => {
    const tokenizer = await AutoTokenizer.from_pretrained(id);
    const model = await AutoModelForTokenClassification.from_pretrained(id, { dtype: 'fp32' });
    const aligner = alignableTokenizer(tokenizer);
    unkId = aligner.unkId;
    labels = Object.values((model.config as unknown as { id2label: Record<string, string> }).id2label);
    try {
      for (const text of TEXTS) {
        const full = tokenizer.encode(text);
        const truncated = full.length > MAX_TOKENS;
        const ids = truncated ? [...full.slice(0, MAX_TOKENS - 1), full[full.length - 1] as number] : full;
        const dims = [1, ids.length];
        const feeds: Record<string, Tensor> = {
          input_ids: new Tensor('int64', BigInt64Array.from(ids, BigInt), dims),
          attention_mask: new Tensor('int64', new BigInt64Array(ids.length).fill(1n), dims),
        };
        if (family === 'bert') feeds.token_type_ids = new Tensor('int64', new BigInt64Array(ids.length), dims);
        const logits = (await model(feeds)).logits.data as Float32Array; // [1, tokens, labels]
        const probs = ids.map((_, t) => softmax(logits.subarray(t * labels.length, (t + 1) * labels.length)));
        references.push({ ids, truncated, probs, alignment: alignTokens(text, ids, aligner) });
      }
    } finally {
      await model.dispose();
    }
  }, 300_000);

  it('aggregation none equals the transformers.js pipeline, scores within 1e-5 (every token, O included)', async () => {
    const { results } = await pool.encode({ modelId: id, task: 'token-classification', texts: TEXTS, options: { aggregationStrategy: 'none', ignoreLabels: [] } });
    const classifier = (await pipeline('token-classification', id, { dtype: 'fp32' })) as TokenClassificationPipeline;
    let compared = 0;
    let maxDiff = 0;
    try {
      for (let i = 0; i < TEXTS.length; i++) {
        const ours = entities(results[i]);
        const ref = references[i] as Reference;
        expect(results[i]?.truncated, `text ${i}`).toBe(ref.truncated);
        // Against the model run alone with Python's truncation: every token, truncated texts included.
        const tokens = ref.ids.map((_, index) => index).filter((index) => ref.alignment.kinds[index] !== 2);
        expect(ours.map((e) => e.index)).toEqual(tokens);
        for (const e of ours) {
          const probs = ref.probs[e.index as number] as number[];
          expect(e.entity).toBe(labels[argmax(probs)]);
          maxDiff = Math.max(maxDiff, Math.abs(e.score - Math.max(...probs)));
        }
        if (ref.truncated) continue;
        const theirs = (await classifier(TEXTS[i] as string, { ignore_labels: [] })) as Array<{ entity: string; score: number; index: number; word: string }>;
        // transformers.js drops [UNK] tokens (it decodes them with the special tokens skipped); Python keeps them.
        const known = ours.filter((e) => ref.ids[e.index as number] !== unkId);
        expect(
          known.map((e) => [e.entity, e.index]),
          `text ${i}`,
        ).toEqual(theirs.map((e) => [e.entity, e.index]));
        known.forEach((e, k) => {
          const their = theirs[k] as { score: number; word: string };
          maxDiff = Math.max(maxDiff, Math.abs(e.score - their.score));
          // transformers.js decodes the single token; Python's word is the token string, which decodes to the same text.
          if (family !== 'roberta') expect(e.word.replace(/^##/, '')).toBe(their.word.replace(/^##/, ''));
          else expect(tokensToString([e.word], 'byte-level')).toBe(their.word);
        });
        compared++;
      }
    } finally {
      await classifier.dispose();
    }
    console.info(`${family} none: max |score difference| ${maxDiff.toExponential(2)} over ${TEXTS.length} texts`);
    expect(maxDiff).toBeLessThanOrEqual(TOL);
    const truncated = references.filter((r) => r.truncated).length;
    expect(truncated).toBeGreaterThan(50);
    expect(compared + truncated).toBe(TEXTS.length);
  }, 600_000);

  it.each(['simple', 'first', 'average', 'max'] as const)(
    "aggregation %s equals a re-implementation of Python's algorithm, scores within 1e-5",
    async (strategy) => {
      const { results } = await pool.encode({ modelId: id, task: 'token-classification', texts: TEXTS, options: { aggregationStrategy: strategy } });
      let maxDiff = 0;
      let groups = 0;
      for (let i = 0; i < TEXTS.length; i++) {
        const ours = entities(results[i]);
        const wanted = pythonEntities(references[i] as Reference, labels, strategy, ['O']);
        expect(
          ours.map(({ score: _, ...rest }) => rest),
          `text ${i}`,
        ).toEqual(wanted.map(({ score: _, ...rest }) => rest));
        ours.forEach((e, k) => {
          maxDiff = Math.max(maxDiff, Math.abs(e.score - (wanted[k]?.score as number)));
        });
        groups += ours.length;
      }
      console.info(`${family} ${strategy}: max |score difference| ${maxDiff.toExponential(2)}, ${groups} entities`);
      expect(maxDiff).toBeLessThanOrEqual(TOL);
      expect(groups).toBeGreaterThan(1000);
    },
    600_000,
  );
});
