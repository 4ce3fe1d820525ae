import { z } from 'zod';
import { l2NormalizeRows, poolHidden } from '../pooling.js';
import { toFloat32 } from '../tensor-data.js';
import type { TaskModule } from './task-module.js';

const queryFlag = z.enum(['true', 'false']).transform((value) => value === 'true');
const pooling = z.enum(['mean', 'cls']);

/** Sentence embeddings: pooled (mean or CLS) last hidden states, L2-normalised by default. */
export const embedTask = Object.freeze({
  name: 'embed',
  aliases: Object.freeze(['embedding', 'feature-extraction']),
  summary: 'embed (embedding, feature-extraction): one float vector per text',
  defaultModel: 'Xenova/all-MiniLM-L6-v2',
  defaultModelVariable: 'DEFAULT_MODEL_EMBED',
  pipelineTask: 'feature-extraction',
  input: 'text',
  output: 'vector',
  modelClass: 'AutoModel',
  servesArchitectures: (architectures) => !architectures.some((a) => a.endsWith('ForSequenceClassification') || a.endsWith('ForTokenClassification')),
  modelHint: 'embed: a base encoder',
  options: Object.freeze({
    pooling: {
      body: pooling.nullish().meta({ description: 'embed only; mean when absent' }),
      query: pooling.optional().meta({ description: 'embed only; mean when absent' }),
      problem: 'option "pooling" must be "mean" or "cls"',
    },
    normalize: {
      body: z.boolean().optional().meta({ description: 'embed only; true when absent' }),
      query: queryFlag.optional().meta({ description: 'embed only; true when absent' }),
      problem: 'option "normalize" must be true or false',
    },
  }),
  withDefaults: (given) => ({ pooling: (given.pooling as 'mean' | 'cls' | null | undefined) ?? 'mean', normalize: (given.normalize as boolean | undefined) ?? true }),
  rowWidth: (info) => info.dimensions,
  postProcess(outputs, { info, batch, seq, lengths, options }) {
    const hidden = outputs.last_hidden_state ?? outputs.token_embeddings; // [batch, seq, hidden]
    if (hidden?.dims.length !== 3) throw new Error(`model output has no [batch, seq, hidden] tensor (got: ${Object.keys(outputs).join(', ')})`);
    const width = hidden.dims[2] as number;
    if (width !== info.dimensions) throw new Error(`hidden size ${width} does not match config (${info.dimensions})`);
    const pooled = poolHidden(toFloat32(hidden), [batch, seq, width], lengths, options.pooling, new Float32Array(batch * width)); // [batch, hidden]
    return options.normalize ? l2NormalizeRows(pooled, width) : pooled;
  },
  resultFields: Object.freeze({ embedding: { type: 'array', items: { type: 'number' } } }),
  toResult: (row) => ({ embedding: row.slice() }),
  openaiEndpoint: '/v1/embeddings',
} as const satisfies TaskModule<'embed'>);
