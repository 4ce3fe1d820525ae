import { z } from 'zod';
import { classify, softmaxRows } from '../softmax.js';
import { toFloat32 } from '../tensor-data.js';
import type { TaskModule } from './task-module.js';

const SEQUENCE_CLASSIFICATION = 'ForSequenceClassification';
const topK = z.int().min(1);

/** Text classification (sentiment and any *ForSequenceClassification head): softmax over the logits, labels ranked. */
export const classifyTask = Object.freeze({
  name: 'sentiment',
  aliases: Object.freeze(['classify', 'text-classification', 'sentiment-analysis']),
  summary: 'sentiment (classify, text-classification, sentiment-analysis): the most likely label and the label scores per text',
  defaultModel: 'Xenova/distilbert-base-uncased-finetuned-sst-2-english',
  defaultModelVariable: 'DEFAULT_MODEL_SENTIMENT',
  pipelineTask: 'text-classification',
  // A text, or a pair {text, text_pair} for cross-encoders (NLI, duplicate detection), as the text-classification pipeline takes.
  input: 'text-pair',
  output: 'label-scores',
  modelClass: 'AutoModelForSequenceClassification',
  servesArchitectures: (architectures) => architectures.some((a) => a.endsWith(SEQUENCE_CLASSIFICATION)),
  modelHint: `sentiment: a *${SEQUENCE_CLASSIFICATION} export`,
  options: Object.freeze({
    top_k: {
      body: topK.nullish().meta({ description: 'sentiment only; labels kept in scores, null for all' }),
      query: z
        .union([z.literal('null').transform(() => null), z.string().regex(/^\d+$/).transform(Number).pipe(topK)])
        .optional()
        .meta({ description: 'sentiment only; labels kept in scores, null for all' }),
      problem: 'option "top_k" must be an integer >= 1, or null for all labels',
    },
  }),
  withDefaults: (given) => ({ topK: (given.top_k as number | null | undefined) ?? null }),
  rowWidth: (info) => info.labels?.length ?? 0,
  postProcess(outputs, { info, batch }) {
    const logits = outputs.logits; // [batch, labels]
    if (!logits) throw new Error(`model output has no logits (got: ${Object.keys(outputs).join(', ')})`);
    const labels = logits.dims[1] as number;
    if (labels !== info.labels?.length) throw new Error(`model has ${labels} logits but config lists ${info.labels?.length ?? 0} labels`);
    return softmaxRows(toFloat32(logits), labels, new Float32Array(batch * labels));
  },
  resultFields: Object.freeze({ label: { type: 'string' }, score: { type: 'number' }, scores: { type: 'object', additionalProperties: { type: 'number' } } }),
  toResult: (row, info, options) => classify(row, info.labels ?? [], options.topK),
  openaiEndpoint: '/v1/classifications',
} as const satisfies TaskModule<'sentiment'>);
