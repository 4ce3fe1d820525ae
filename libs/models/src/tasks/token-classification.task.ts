import { z } from 'zod';
import { AGGREGATION_STRATEGIES, extractEntities } from '../entities.js';
import { softmaxRows } from '../softmax.js';
import { toFloat32 } from '../tensor-data.js';
import { defineOptions, type TaskModule } from './task-module.js';

const TOKEN_CLASSIFICATION = 'ForTokenClassification';
const strategy = z.enum(AGGREGATION_STRATEGIES);
const label = z.string().min(1);

const TOKEN_CLASSIFICATION_OPTIONS = defineOptions({
  aggregation_strategy: {
    field: 'aggregationStrategy',
    value: strategy,
    default: 'none',
    recorded: 'always',
    body: strategy.nullish().meta({ description: 'token-classification only; how tokens become entities (Python pipeline semantics); none when absent' }),
    query: strategy.optional().meta({ description: 'token-classification only; none when absent' }),
    problem: `option "aggregation_strategy" must be one of ${AGGREGATION_STRATEGIES.join(', ')}`,
  },
  ignore_labels: {
    field: 'ignoreLabels',
    value: z.array(z.string()).readonly(),
    default: Object.freeze(['O']),
    recorded: 'always',
    body: z.array(label).nullish().meta({ description: 'token-classification only; labels left out of the entities; ["O"] when absent' }),
    query: z
      .string()
      .transform((value) => (value === '' ? [] : value.split(',')))
      .pipe(z.array(label))
      .optional()
      .meta({ description: 'token-classification only; comma-separated labels left out; O when absent, empty for none' }),
    problem: 'option "ignore_labels" must be a list of non-empty label names',
  },
});

/**
 * Named entities (any *ForTokenClassification head), with the Python pipeline's aggregation
 * strategies and code point offsets into the text. The thread returns each kept token's softmax
 * scores, padded to the model's longest input `// [maxTokens, labels]`; the entities are built on
 * the main thread from them and the token alignment made when tokenizing (token-alignment.ts).
 */
export const tokenClassificationTask = Object.freeze({
  name: 'token-classification',
  aliases: Object.freeze(['ner']),
  summary: 'token-classification (ner): named entities per text, with character offsets',
  defaultModel: 'Xenova/bert-base-NER',
  defaultModelVariable: 'DEFAULT_MODEL_TOKEN_CLASSIFICATION',
  pipelineTask: 'token-classification',
  input: 'text',
  output: 'json',
  modelClass: 'AutoModelForTokenClassification',
  servesArchitectures: (architectures) => architectures.some((a) => a.endsWith(TOKEN_CLASSIFICATION)),
  modelHint: `token-classification: a *${TOKEN_CLASSIFICATION} export`,
  alignsTokens: true,
  options: TOKEN_CLASSIFICATION_OPTIONS,
  rowWidth: (info) => info.maxTokens * (info.labels?.length ?? 0),
  postProcess(outputs, { info, batch, seq, lengths }) {
    const logits = outputs.logits; // [batch, seq, labels]
    if (logits?.dims.length !== 3) throw new Error(`model output has no [batch, seq, labels] logits (got: ${Object.keys(outputs).join(', ')})`);
    const labels = logits.dims[2] as number;
    if (labels !== info.labels?.length) throw new Error(`model has ${labels} logits per token but config lists ${info.labels?.length ?? 0} labels`);
    const all = toFloat32(logits);
    const width = info.maxTokens * labels;
    const rows = new Float32Array(batch * width); // [batch, maxTokens, labels], zero past each text's tokens
    for (let b = 0; b < batch; b++) {
      const kept = (lengths[b] as number) * labels;
      softmaxRows(all.subarray(b * seq * labels, b * seq * labels + kept), labels, rows.subarray(b * width, b * width + kept));
    }
    return rows;
  },
  resultFields: Object.freeze({
    entities: {
      type: 'array',
      items: {
        type: 'object',
        description: '`entity` and `index` with aggregation none, `entity_group` otherwise; start/end count code points, null when a token could not be matched to the text',
        properties: {
          entity: { type: 'string' },
          entity_group: { type: 'string' },
          score: { type: 'number' },
          index: { type: 'integer' },
          word: { type: 'string' },
          start: { type: 'integer', nullable: true },
          end: { type: 'integer', nullable: true },
        },
      },
    },
  }),
  toResult(row, info, options, alignment) {
    if (!alignment) throw new Error('token-classification needs the token alignment of each text');
    return { entities: extractEntities(row, info.labels ?? [], alignment, options.aggregationStrategy, options.ignoreLabels) };
  },
  // No OpenAI-style route serves entities.
  openaiEndpoint: undefined,
} as const satisfies TaskModule<'token-classification', typeof TOKEN_CLASSIFICATION_OPTIONS>);
