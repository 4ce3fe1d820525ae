import { toFloat32 } from '../tensor-data.js';
import type { ItemResult, RankedDocument } from './task-io.js';
import { booleanOption, defineOptions, type TaskModule } from './task-module.js';

const SEQUENCE_CLASSIFICATION = 'ForSequenceClassification';

const RERANK_OPTIONS = defineOptions({
  raw_scores: booleanOption('raw_scores', 'rawScores', false, 'rerank only; the raw logit instead of its sigmoid; false when absent'),
  return_text: booleanOption('return_text', 'returnText', false, 'rerank only; each ranked document carries its text; false when absent'),
});

/**
 * Reranking with a cross-encoder (TEI's `/rerank`): each item is a query and its documents; every
 * (query, document) pair is tokenized as a text pair and scored by the model's single logit, through
 * a sigmoid unless `raw_scores`; the item's result is its documents sorted by score, highest first.
 * The thread scores pairs; the worker expands items into pairs and ranks them (`rankDocuments`).
 */
export const rerankTask = Object.freeze({
  name: 'rerank',
  aliases: Object.freeze(['reranking', 'cross-encoder']),
  summary: 'rerank (reranking, cross-encoder): a query and its documents in, the documents sorted by relevance out',
  defaultModel: 'Xenova/ms-marco-MiniLM-L-6-v2',
  defaultModelVariable: 'DEFAULT_MODEL_RERANK',
  pipelineTask: 'text-classification',
  input: 'query-documents',
  output: 'json',
  modelClass: 'AutoModelForSequenceClassification',
  // A cross-encoder: one logit, the relevance (TEI's "ranker" models).
  servesArchitectures: (architectures: readonly string[], labels?: readonly string[] | null) =>
    architectures.some((a) => a.endsWith(SEQUENCE_CLASSIFICATION)) && labels?.length === 1,
  modelHint: `rerank: a *${SEQUENCE_CLASSIFICATION} export with one logit (a cross-encoder)`,
  options: RERANK_OPTIONS,
  rowWidth: () => 1,
  postProcess(outputs, { batch, options }) {
    const logits = outputs.logits; // [batch, 1]
    if (!logits) throw new Error(`model output has no logits (got: ${Object.keys(outputs).join(', ')})`);
    const labels = logits.dims[1] as number;
    if (labels !== 1) throw new Error(`rerank needs a cross-encoder with one logit; this model has ${labels} (use task "classify" for it)`);
    const raw = toFloat32(logits);
    const out = new Float32Array(batch); // [batch, 1]
    for (let i = 0; i < batch; i++) out[i] = options.rawScores ? (raw[i] as number) : 1 / (1 + Math.exp(-(raw[i] as number)));
    return out;
  },
  resultFields: Object.freeze({
    ranking: {
      type: 'array',
      description: 'the documents, highest score first',
      items: {
        type: 'object',
        required: ['index', 'score'],
        properties: {
          index: { type: 'integer', description: "the document's position in the input" },
          score: { type: 'number' },
          text: { type: 'string', description: 'with return_text' },
        },
      },
    },
  }),
  toResult: (row) => ({ relevance: row[0] as number }),
  // Not an OpenAI route: TEI's shape, served at POST /v1/rerank.
  openaiEndpoint: undefined,
} as const satisfies TaskModule<'rerank', typeof RERANK_OPTIONS>);

/**
 * The documents of one rerank item, highest score first (ties keep input order), from the scores of
 * its pairs in document order; `documents` adds each one's text (return_text).
 */
export function rankDocuments(scores: readonly number[], documents?: readonly string[]): RankedDocument[] {
  return scores.map((score, index) => (documents ? { index, score, text: documents[index] as string } : { index, score })).sort((a, b) => b.score - a.score || a.index - b.index);
}

/** A rerank item as the worker reads it: the query and its documents. */
export interface RerankItem {
  text: string;
  documents?: readonly string[];
}

/** The (query, document) pairs of rerank items, in item then document order: what the pool scores. */
export function rerankPairs(items: readonly RerankItem[]): { texts: string[]; textPairs: string[] } {
  const texts: string[] = [];
  const textPairs: string[] = [];
  for (const item of items) {
    for (const document of item.documents ?? []) {
      texts.push(item.text);
      textPairs.push(document);
    }
  }
  return { texts, textPairs };
}

/**
 * Each rerank item's result from the results of its pairs (rerankPairs order): its documents ranked,
 * the tokens of all its pairs, truncated when any pair was; a pair that failed fails its item.
 */
export function collectRankings(items: readonly RerankItem[], pairResults: readonly ItemResult[], returnText: boolean): ItemResult[] {
  let next = 0;
  return items.map((item) => {
    const documents = item.documents ?? [];
    const results = pairResults.slice(next, next + documents.length);
    next += documents.length;
    const tokens = results.reduce((sum, result) => sum + result.tokens, 0);
    const failed = results.findIndex((result) => !result.ok);
    if (failed !== -1) {
      const { error } = results[failed] as Extract<ItemResult, { ok: false }>;
      return { ok: false, tokens, truncated: false, error: { code: error.code, message: `document ${failed}: ${error.message}` } };
    }
    const scores = results.map((result) => ('relevance' in result ? result.relevance : Number.NaN));
    return { ok: true, tokens, truncated: results.some((result) => result.truncated), ranking: rankDocuments(scores, returnText ? documents : undefined) };
  });
}
