import { AutoModel, AutoModelForSequenceClassification, AutoModelForTokenClassification, AutoTokenizer, env, pipeline, Tensor } from '@huggingface/transformers';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FAMILIES, generateModels, HEADS, modelName, type GeneratedModel } from '../../tools/model-generator/index.js';
import { modelSpec } from '../../tools/model-generator/model-spec.js';
import { readFloatInitializers } from '../../tools/model-generator/onnx-codec.js';
import { referenceForward } from '../../tools/model-generator/reference-forward.js';

const TEXTS = [
  'hello world',
  'I absolutely loved this movie, the acting was superb!',
  'Terrible service and the food was cold.',
  'Café résumé naïve 😀 — déjà vu',
  'The quick brown fox jumps over the lazy dog.',
  'meh',
  'What a wonderful day to go for a long walk in the park with friends.',
  'I will never come back here again.',
  'Shipping was fast, the box arrived on Tuesday.',
  'Is this the real life? Is this just fantasy?',
  'Numbers like 3.14159 and 2024 should tokenize fine.',
  'ok',
];
const SHORT = 'short text';
const LONG = 'a much longer text that needs many more tokens than the short one, so the short row gets padded a lot';

let outDir = '';
let generated: GeneratedModel[] = [];

beforeAll(async () => {
  outDir = await mkdtemp(join(tmpdir(), 'sw-generate-'));
  generated = await generateModels({ out: outDir, size: 'tiny', dtype: ['fp32', 'q8', 'fp16'] });
  env.localModelPath = outDir;
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
});

afterAll(async () => {
  if (outDir) await rm(outDir, { recursive: true, force: true });
});

const rows = (t: Tensor): number[][] => t.tolist() as number[][];
const cosine = (a: number[], b: number[]): number => {
  const dot = a.reduce((s, v, i) => s + v * b[i], 0);
  return dot / Math.sqrt(a.reduce((s, v) => s + v * v, 0) * b.reduce((s, v) => s + v * v, 0));
};

describe('generateModels', () => {
  it('writes all eighteen tiny models (six heads per family) with every requested file', async () => {
    expect(HEADS).toEqual(['embed', 'sentiment', 'multilabel', 'score', 'ner', 'nli']);
    expect(generated.map((m) => m.name).sort()).toEqual(FAMILIES.flatMap((f) => HEADS.map((head) => modelName(f, 'tiny', head))).sort());
    for (const model of generated) {
      expect(model.written).toBe(true);
      for (const file of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model.onnx', 'onnx/model_quantized.onnx', 'onnx/model_fp16.onnx']) {
        expect((await stat(join(model.path, file))).size).toBeGreaterThan(0);
      }
      const config = JSON.parse(await readFile(join(model.path, 'config.json'), 'utf8')) as Record<string, unknown>;
      expect(config.model_type).toBe(model.family);
      expect(config.shardwise_random_weights).toBe(true);
      const classifier = model.head !== 'embed';
      expect(config.architectures).toEqual([
        model.head === 'ner'
          ? expect.stringMatching(/ForTokenClassification$/)
          : classifier
            ? expect.stringMatching(/ForSequenceClassification$/)
            : expect.stringMatching(/Model$/),
      ]);
      expect(config.problem_type).toBe(
        {
          embed: undefined,
          sentiment: 'single_label_classification',
          multilabel: 'multi_label_classification',
          score: undefined,
          ner: undefined,
          nli: 'single_label_classification',
        }[model.head],
      );
      if (model.head === 'multilabel') expect(Object.keys(config.id2label as object)).toHaveLength(4);
      if (model.head === 'score') expect(config.id2label).toEqual({ 0: 'LABEL_0' });
      const prompts = await readFile(join(model.path, 'config_sentence_transformers.json'), 'utf8').then(JSON.parse, () => null);
      expect(prompts).toEqual(classifier ? null : { prompts: { query: 'query: ', passage: 'passage: ' }, default_prompt_name: null, similarity_fn_name: 'cosine' });
    }
  });

  it('skips complete models and regenerates bit-identical weights', async () => {
    const again = await generateModels({ out: outDir, size: 'tiny', family: ['bert'], head: ['embed'] });
    expect(again[0].written).toBe(false);
    const other = await mkdtemp(join(tmpdir(), 'sw-generate-again-'));
    try {
      const [fresh] = await generateModels({ out: other, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
      const [a, b] = await Promise.all([readFile(join(fresh.path, 'onnx/model.onnx')), readFile(join(again[0].path, 'onnx/model.onnx'))]);
      expect(a.equals(b)).toBe(true);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});

describe('tokenizers', () => {
  it('BERT and DistilBERT use the real bert-base-uncased WordPiece ids', async () => {
    for (const family of ['bert', 'distilbert'] as const) {
      const tokenizer = await AutoTokenizer.from_pretrained(modelName(family, 'tiny', 'embed'));
      expect(tokenizer.encode('hello world')).toEqual([101, 7592, 2088, 102]);
      expect(tokenizer.encode('Tokenizer')).toEqual([101, 19204, 17629, 102]);
      // transformers.js returns token_type_ids only for BertTokenizer, matching the ONNX inputs.
      expect('token_type_ids' in tokenizer('hello')).toBe(family === 'bert');
    }
  });

  it('RoBERTa byte-level BPE wraps in <s> … </s> and round-trips any text', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained(modelName('roberta', 'tiny', 'embed'));
    for (const text of TEXTS) {
      const ids = tokenizer.encode(text);
      expect(ids[0]).toBe(0);
      expect(ids.at(-1)).toBe(2);
      expect(tokenizer.decode(ids, { skip_special_tokens: true })).toBe(text);
    }
    // Learned merges: common words are single tokens, not byte soup.
    expect(tokenizer.encode('the world').length).toBe(4);
    expect(tokenizer.pad_token_id).toBe(1);
  });
});

describe.each(FAMILIES)('%s-tiny through transformers.js', (family) => {
  it.each(['fp32', 'q8', 'fp16'] as const)('feature-extraction gives unit vectors (%s)', async (dtype) => {
    const extract = await pipeline('feature-extraction', modelName(family, 'tiny', 'embed'), { dtype });
    const output = await extract(TEXTS, { pooling: 'mean', normalize: true });
    expect(output.dims).toEqual([TEXTS.length, 32]);
    for (const row of rows(output)) expect(Math.hypot(...row)).toBeCloseTo(1, 5);
  });

  it.each(['fp32', 'q8', 'fp16'] as const)('text-classification scores every label (%s)', async (dtype) => {
    const id = modelName(family, 'tiny', 'sentiment');
    const classify = await pipeline('text-classification', id, { dtype });
    const expected = family === 'roberta' ? ['negative', 'neutral', 'positive'] : ['NEGATIVE', 'POSITIVE'];
    const results = (await classify(TEXTS, { top_k: null })) as Array<Array<{ label: string; score: number }>>;
    for (const scores of results) {
      expect(scores.map((s) => s.label).sort()).toEqual(expected);
      expect(scores.reduce((sum, s) => sum + s.score, 0)).toBeCloseTo(1, 5);
    }
    // The calibrated head makes the winning label depend on the text.
    expect(new Set(results.map((scores) => scores[0].label)).size).toBeGreaterThan(1);
  });

  it('multi-label head: each label both above and below 0.5 across texts (sigmoid, calibrated)', async () => {
    const classify = await pipeline('text-classification', modelName(family, 'tiny', 'multilabel'), { dtype: 'fp32' });
    const results = (await classify(TEXTS, { top_k: null })) as Array<Array<{ label: string; score: number }>>;
    for (const label of ['toxic', 'insult', 'threat', 'obscene']) {
      const scores = results.map((labels) => labels.find((l) => l.label === label)?.score as number);
      expect(Math.min(...scores)).toBeLessThan(0.5);
      expect(Math.max(...scores)).toBeGreaterThan(0.5);
    }
  });

  it('pair heads: the one-logit cross-encoder (score) and the three-label NLI classifier read pairs; BERT reads token types', async () => {
    for (const [head, labels] of [
      ['score', ['LABEL_0']],
      ['nli', ['contradiction', 'entailment', 'neutral']],
    ] as const) {
      const id = modelName(family, 'tiny', head);
      const config = JSON.parse(await readFile(join(outDir, id, 'config.json'), 'utf8')) as { id2label: Record<string, string>; architectures: string[] };
      expect(Object.values(config.id2label)).toEqual(labels);
      expect(config.architectures[0]).toMatch(/ForSequenceClassification$/);
      const tokenizer = await AutoTokenizer.from_pretrained(id);
      const model = await AutoModelForSequenceClassification.from_pretrained(id, { dtype: 'fp32' });
      const inputs = tokenizer(SHORT, { text_pair: LONG, return_token_type_ids: true });
      const logits = rows((await model(inputs)).logits as Tensor)[0];
      expect(logits).toHaveLength(labels.length);
      if (family === 'bert') {
        // Segment ids change the output: the token type table has two distinct rows.
        const types = inputs.token_type_ids as Tensor;
        const zeros = { ...inputs, token_type_ids: new Tensor('int64', new BigInt64Array(types.data.length), types.dims) };
        const flat = rows((await model(zeros)).logits as Tensor)[0];
        expect(Math.max(...logits.map((v, j) => Math.abs(v - flat[j])))).toBeGreaterThan(1e-4);
      }
      await model.dispose();
    }
  });

  it('padding a row inside a batch does not change its outputs (fp32)', async () => {
    const tokenizer = await AutoTokenizer.from_pretrained(modelName(family, 'tiny', 'embed'));
    const encoder = await AutoModel.from_pretrained(modelName(family, 'tiny', 'embed'), { dtype: 'fp32' });
    const alone = (await encoder(tokenizer([SHORT]))).last_hidden_state as Tensor; // [1, s, 32]
    const batch = tokenizer([SHORT, LONG], { padding: true });
    expect((batch.attention_mask.tolist() as bigint[][])[0].filter((m) => m === 0n).length).toBeGreaterThan(10);
    const batched = (await encoder(batch)).last_hidden_state as Tensor; // [2, S, 32]
    const seq = alone.dims[1];
    const aloneRows = (alone.tolist() as number[][][])[0];
    const batchedRows = (batched.tolist() as number[][][])[0].slice(0, seq);
    batchedRows.forEach((row, t) => row.forEach((v, j) => expect(Math.abs(v - aloneRows[t][j])).toBeLessThan(1e-5)));

    const classifierTokenizer = await AutoTokenizer.from_pretrained(modelName(family, 'tiny', 'sentiment'));
    const classifier = await AutoModelForSequenceClassification.from_pretrained(modelName(family, 'tiny', 'sentiment'), { dtype: 'fp32' });
    const single = rows((await classifier(classifierTokenizer([SHORT]))).logits as Tensor)[0];
    const padded = rows((await classifier(classifierTokenizer([SHORT, LONG], { padding: true }))).logits as Tensor)[0];
    padded.forEach((v, j) => expect(Math.abs(v - single[j])).toBeLessThan(1e-5));

    if (family === 'roberta') {
      // Position ids come from the ids themselves (cumsum of non-pad), so even left padding is invisible.
      tokenizer.padding_side = 'left';
      const left = (await encoder(tokenizer([SHORT, LONG], { padding: true }))).last_hidden_state as Tensor;
      const leftRows = (left.tolist() as number[][][])[0].slice(-seq);
      leftRows.forEach((row, t) => row.forEach((v, j) => expect(Math.abs(v - aloneRows[t][j])).toBeLessThan(1e-5)));
    }
  });

  it.each(['embed', 'sentiment', 'ner'] as const)('ONNX %s graph matches a float64 re-implementation of the HF forward', async (head) => {
    const id = modelName(family, 'tiny', head);
    const tokenizer = await AutoTokenizer.from_pretrained(id);
    const Loader = head === 'embed' ? AutoModel : head === 'ner' ? AutoModelForTokenClassification : AutoModelForSequenceClassification;
    const model = await Loader.from_pretrained(id, { dtype: 'fp32' });
    const weights = readFloatInitializers(await readFile(join(outDir, id, 'onnx/model.onnx')));
    const config = JSON.parse(await readFile(join(outDir, id, 'config.json'), 'utf8')) as { vocab_size: number };
    const spec = modelSpec(family, 'tiny', head, config.vocab_size);
    const text = TEXTS[1];
    const expected = referenceForward(spec, weights, tokenizer.encode(text));
    const output = await model(tokenizer([text]));
    const actual =
      head === 'embed'
        ? (output.last_hidden_state.tolist() as number[][][])[0].flat()
        : head === 'ner'
          ? (output.logits.tolist() as number[][][])[0].flat()
          : rows(output.logits as Tensor)[0];
    const wanted = head === 'embed' ? expected.hidden.flat() : (expected.logits ?? []);
    expect(actual.length).toBe(wanted.length);
    actual.forEach((v, i) => expect(Math.abs(v - wanted[i])).toBeLessThan(1e-4));
  });

  it('q8 stays close to fp32 and is much smaller', async () => {
    const id = modelName(family, 'tiny', 'embed');
    const fp32 = rows(await (await pipeline('feature-extraction', id, { dtype: 'fp32' }))(TEXTS, { pooling: 'mean', normalize: true }));
    const q8 = rows(await (await pipeline('feature-extraction', id, { dtype: 'q8' }))(TEXTS, { pooling: 'mean', normalize: true }));
    fp32.forEach((row, i) => expect(cosine(row, q8[i])).toBeGreaterThan(0.99));
    const sizes = generated.find((m) => m.name === id)?.sizes ?? {};
    expect(sizes.q8 ?? Infinity).toBeLessThan(0.35 * (sizes.fp32 ?? 0));
  });
});
