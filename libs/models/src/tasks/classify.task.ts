import { z } from 'zod';
import { classify, defaultClassificationFunction, scoreRows } from '../softmax.js';
import { toFloat32 } from '../tensor-data.js';
import { CLASSIFICATION_FUNCTIONS } from './task-io.js';
import { defineOptions, type TaskModule } from './task-module.js';

const SEQUENCE_CLASSIFICATION = 'ForSequenceClassification';
const topK = z.int().min(1);
const classificationFunction = z.enum(CLASSIFICATION_FUNCTIONS);
const FUNCTION_DESCRIPTION =
  "sentiment only; what turns logits into scores: softmax, sigmoid (independent per label) or none (raw logits); absent or null: the model's own (sigmoid for multi-label and single-logit models, softmax otherwise)";

const CLASSIFY_OPTIONS = defineOptions({
  top_k: {
    field: 'topK',
    value: topK.nullable(),
    default: null,
    recorded: 'always',
    body: topK.nullish().meta({ description: 'sentiment only; labels kept in scores, null for all' }),
    query: z
      .union([z.literal('null').transform(() => null), z.string().regex(/^\d+$/).transform(Number).pipe(topK)])
      .optional()
      .meta({ description: 'sentiment only; labels kept in scores, null for all' }),
    problem: 'option "top_k" must be an integer >= 1, or null for all labels',
  },
  function_to_apply: {
    field: 'functionToApply',
    value: classificationFunction.nullable(),
    // null leaves the choice to the model (problem_type, number of labels); written only when asked for.
    default: null,
    recorded: 'given',
    body: classificationFunction.nullish().meta({ description: FUNCTION_DESCRIPTION }),
    query: classificationFunction.optional().meta({ description: FUNCTION_DESCRIPTION }),
    problem: `option "function_to_apply" must be one of ${CLASSIFICATION_FUNCTIONS.map((f) => `"${f}"`).join(', ')}, or null for the model's own`,
  },
});

/**
 * Text classification (sentiment and any *ForSequenceClassification head): the pipeline's function
 * over the logits (softmax, or sigmoid for multi-label and single-logit models), labels ranked.
 */
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
  options: CLASSIFY_OPTIONS,
  rowWidth: (info) => info.labels?.length ?? 0,
  postProcess(outputs, { info, batch, options }) {
    const logits = outputs.logits; // [batch, labels]
    if (!logits) throw new Error(`model output has no logits (got: ${Object.keys(outputs).join(', ')})`);
    const labels = logits.dims[1] as number;
    if (labels !== info.labels?.length) throw new Error(`model has ${labels} logits but config lists ${info.labels?.length ?? 0} labels`);
    const fn = options.functionToApply ?? defaultClassificationFunction(info);
    return scoreRows(fn, toFloat32(logits), labels, new Float32Array(batch * labels));
  },
  resultFields: Object.freeze({ label: { type: 'string' }, score: { type: 'number' }, scores: { type: 'object', additionalProperties: { type: 'number' } } }),
  toResult: (row, info, options) => classify(row, info.labels ?? [], options.topK),
  openaiEndpoint: '/v1/classifications',
} as const satisfies TaskModule<'sentiment', typeof CLASSIFY_OPTIONS>);
