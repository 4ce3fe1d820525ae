/**
 * Text pairs end to end (issue 13 item 3): an NDJSON job of `{text, text_pair}` lines for the
 * generated BERT NLI cross-encoder through the built API and worker and a real Redis, each result
 * equal to transformers.js on the Python-truncated pair; bad pair lines refused naming line and field.
 */
import { AutoModelForSequenceClassification, AutoTokenizer, env } from '@huggingface/transformers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePairModels, ensureTinyModels, mixedPairs } from '../models/fixtures.js';
import { readParquetResults } from '../support/parquet-results.js';
import { referenceLogits, referencePairInput, softmax } from '../support/pair-reference.js';
import { finished, MODEL_DIR, postJob, postNdjson, resultsOf, Stack, waitFor } from '../support/stack.js';

const MODEL = 'shardwise-random/bert-tiny-nli';
const RERANKER = 'shardwise-random/roberta-tiny-score';
const LABELS = ['contradiction', 'entailment', 'neutral'];

describe('text pair jobs through the API', () => {
  let stack: Stack;
  let base: string;

  beforeAll(async () => {
    await ensureTinyModels();
    await ensurePairModels();
    stack = await Stack.start();
    base = (await stack.startApi({ SHARD_MAX_TEXTS: '40' })).baseUrl;
    await stack.startWorker({ PRELOAD_MODELS: `${MODEL},${RERANKER}` });
  }, 180_000);

  afterAll(async () => {
    await stack?.stop();
  });

  it('classifies 200 mixed pairs (truncated ones included) as transformers.js does with Python truncation', async () => {
    const pairs = mixedPairs(200, 5);
    const submitted = await postNdjson(
      base,
      { task: 'classify', model: MODEL, top_k: 'null' },
      pairs.map(([text, text_pair], i) => ({ id: `p${i}`, text, text_pair })),
    );
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const job = await waitFor(base, submitted.body.id as string, finished);
    expect(job.state).toBe('completed');
    expect(job.counts).toMatchObject({ total: 200, succeeded: 200, failed: 0 });

    env.localModelPath = MODEL_DIR;
    env.allowRemoteModels = false;
    const tokenizer = await AutoTokenizer.from_pretrained(MODEL);
    const model = await AutoModelForSequenceClassification.from_pretrained(MODEL, { dtype: 'fp32' });
    try {
      const lines = await resultsOf(base, job.id);
      expect(lines.map((line) => line.id)).toEqual(pairs.map((_, i) => `p${i}`));
      let maxDiff = 0;
      let cut = 0;
      for (const [i, [text, pair]] of pairs.entries()) {
        const line = lines[i];
        if (!line || !('scores' in line)) throw new Error(`no scores: ${JSON.stringify(line)}`);
        const input = referencePairInput(tokenizer, 'bert', text, pair, 128);
        const expected = softmax(await referenceLogits(model, 'bert', input));
        LABELS.forEach((label, j) => {
          maxDiff = Math.max(maxDiff, Math.abs((line.scores[label] as number) - (expected[j] as number)));
        });
        expect(line.truncated ?? false).toBe(input.cut);
        if (input.cut) cut++;
      }
      // Scores are written with 7 significant digits in NDJSON.
      expect(maxDiff).toBeLessThan(1e-6);
      expect(cut).toBeGreaterThan(20);
    } finally {
      await model.dispose();
    }
  }, 180_000);

  it('takes pairs in a JSON body too, and a pair differs from its first text alone', async () => {
    const submitted = await postJob(base, {
      task: 'classify',
      model: MODEL,
      inputs: [{ text: 'A man is eating.', text_pair: 'Someone eats food.' }, 'A man is eating.', { id: 'x', text: 'A man is eating.', text_pair: 'Nobody eats.' }],
    });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const job = await waitFor(base, submitted.body.id as string, finished);
    expect(job.counts).toMatchObject({ total: 3, succeeded: 3 });
    const lines = await resultsOf(base, job.id);
    expect(lines.map((line) => line.id)).toEqual(['0', '1', 'x']);
    const score = (i: number) => {
      const line = lines[i];
      if (!line || !('score' in line)) throw new Error(`no score: ${JSON.stringify(line)}`);
      return line.score;
    };
    expect(score(0)).not.toBe(score(1));
    expect(score(0)).not.toBe(score(2));
  }, 60_000);

  it('refuses bad pair lines, naming the line and the field', async () => {
    const notString = await postNdjson(base, { task: 'classify', model: MODEL }, [
      { text: 'a', text_pair: 'b' },
      { text: 'c', text_pair: 7 },
    ]);
    expect(notString.status).toBe(400);
    expect(notString.body).toMatchObject({ error: { code: 'INVALID_INPUT', line: 2, field: 'text_pair' } });
    expect(JSON.stringify(notString.body)).toContain('line 2: field \\"text_pair\\" must be a string');

    const missing = await postNdjson(base, { task: 'classify', model: MODEL }, [{ text: 'a', text_pair: 'b' }, { text_pair: 'only the pair' }]);
    expect(missing.status).toBe(400);
    expect(missing.body).toMatchObject({ error: { code: 'MISSING_TEXT', line: 2, field: 'text' } });

    const embed = await postJob(base, { task: 'embed', model: 'shardwise-random/bert-tiny-embed', inputs: ['fine', { text: 'a', text_pair: 'b' }] });
    expect(embed.status).toBe(400);
    expect(JSON.stringify(embed.body)).toMatch(/inputs\[1\]: field \\"text_pair\\" is only accepted by tasks that classify text pairs/);
  }, 60_000);

  it('reranks: each line {query, documents} gets its documents sorted by sigmoid relevance, as transformers.js scores them', async () => {
    const pairs = mixedPairs(60, 9);
    const items = Array.from({ length: 12 }, (_, i) => ({
      id: `q${i}`,
      query: pairs[i * 5]?.[0] as string,
      documents: pairs.slice(i * 5, i * 5 + 5).map(([, document]) => document),
    }));
    // TEI names the documents "texts"; both are accepted.
    const lines = items.map((item, i) => (i % 2 === 0 ? item : { id: item.id, query: item.query, texts: item.documents }));
    const submitted = await postNdjson(base, { task: 'rerank', model: RERANKER, return_text: 'true' }, lines);
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const job = await waitFor(base, submitted.body.id as string, finished);
    expect(job).toMatchObject({ state: 'completed', counts: { total: 12, succeeded: 12, failed: 0 }, options: { return_text: true, raw_scores: false } });

    env.localModelPath = MODEL_DIR;
    env.allowRemoteModels = false;
    const tokenizer = await AutoTokenizer.from_pretrained(RERANKER);
    const model = await AutoModelForSequenceClassification.from_pretrained(RERANKER, { dtype: 'fp32' });
    try {
      const results = await resultsOf(base, job.id);
      expect(results.map((line) => line.id)).toEqual(items.map((item) => item.id));
      let maxDiff = 0;
      for (const [i, item] of items.entries()) {
        const line = results[i];
        if (!line || !('ranking' in line)) throw new Error(`no ranking: ${JSON.stringify(line)}`);
        const { ranking } = line;
        expect(ranking.map((ranked) => ranked.index).sort()).toEqual([0, 1, 2, 3, 4]);
        for (let k = 1; k < ranking.length; k++) expect((ranking[k - 1] as { score: number }).score).toBeGreaterThanOrEqual((ranking[k] as { score: number }).score);
        for (const ranked of ranking) {
          expect(ranked.text).toBe(item.documents[ranked.index]);
          const [logit] = await referenceLogits(model, 'roberta', referencePairInput(tokenizer, 'roberta', item.query, item.documents[ranked.index] as string, 128));
          maxDiff = Math.max(maxDiff, Math.abs(ranked.score - 1 / (1 + Math.exp(-(logit as number)))));
        }
      }
      expect(maxDiff).toBeLessThan(1e-6);

      // Parquet: the ranking as a JSON string column, equal to the NDJSON lines.
      const parquet = await fetch(`${base}/v1/jobs/${job.id}/results?format=parquet`);
      expect(parquet.status).toBe(200);
      const table = await readParquetResults(new Uint8Array(await parquet.arrayBuffer()));
      expect(table.columns).toEqual(['id', 'index', 'ranking', 'truncated', 'error_code', 'error_message']);
      expect(table.rows.map((row) => JSON.parse(row.ranking as string))).toEqual(results.map((line) => ('ranking' in line ? line.ranking : null)));
    } finally {
      await model.dispose();
    }
  }, 120_000);

  it('refuses bad rerank lines, naming the line and the field', async () => {
    const cases: Array<[object, string, string]> = [
      [{ text: 'not a query', documents: ['a'] }, 'MISSING_TEXT', 'query'],
      [{ query: 'q' }, 'MISSING_TEXT', 'documents'],
      [{ query: 'q', documents: [] }, 'INVALID_INPUT', 'documents'],
      [{ query: 'q', documents: ['a', 3] }, 'INVALID_INPUT', 'documents[1]'],
    ];
    for (const [line, code, field] of cases) {
      const reply = await postNdjson(base, { task: 'rerank', model: RERANKER }, [{ query: 'fine', documents: ['ok'] }, line]);
      expect(reply.status, JSON.stringify(line)).toBe(400);
      expect(reply.body, JSON.stringify(line)).toMatchObject({ error: { code, line: 2, field } });
    }
    const notCrossEncoder = await postJob(base, { task: 'rerank', model: MODEL, inputs: [{ query: 'q', documents: ['a'] }] });
    expect(notCrossEncoder.status).toBe(400);
    // A three-label NLI model is no cross-encoder for ranking.
    expect(notCrossEncoder.body).toMatchObject({ error: { code: 'INVALID_MODEL', field: 'model' } });
    expect(JSON.stringify(notCrossEncoder.body)).toContain('cannot serve task \\"rerank\\"; it serves: sentiment');
  }, 60_000);
});
