import type { SchemaObject } from '@nestjs/swagger';
import { int, nullable, obj, str } from '../docs/schema-builders.js';
import { AGGREGATION_STRATEGIES, CLASSIFICATION_FUNCTIONS, TASK_NAMES } from '#models';

/** A JobView (libs/shared/src/jobs/job-view.ts) and a JobList, for the OpenAPI document. */
export const jobViewSchema: SchemaObject = obj({
  id: str(undefined, { example: 'job_3mJr7AoUXx2Wqd5wGxgYbQ' }),
  object: str(undefined, { enum: ['job'] }),
  task: str(undefined, { enum: [...TASK_NAMES] }),
  model: str(),
  state: str(undefined, { enum: ['queued', 'running', 'completed', 'failed', 'cancelled'] }),
  options: obj({
    pooling: nullable(str(undefined, { enum: ['mean', 'cls'] })),
    normalize: nullable({ type: 'boolean' }),
    top_k: nullable(int()),
    function_to_apply: nullable(str(undefined, { enum: [...CLASSIFICATION_FUNCTIONS] })),
    dimensions: nullable(int()),
    prompt: nullable(str()),
    prompt_name: nullable(str()),
    truncate: nullable({ type: 'boolean' }),
    raw_scores: { type: 'boolean', description: 'rerank jobs only' },
    return_text: { type: 'boolean', description: 'rerank jobs only' },
    aggregation_strategy: str('token-classification jobs only', { enum: [...AGGREGATION_STRATEGIES] }),
    ignore_labels: { type: 'array', items: { type: 'string' }, description: 'token-classification jobs only' },
  }),
  metadata: nullable({ type: 'object', additionalProperties: true }),
  counts: obj({
    total: int(),
    succeeded: int(),
    failed: int(),
    deduplicated: int('items whose result was copied from an identical text of the same job instead of computed (dedup); included in succeeded and failed'),
  }),
  shards: obj({ total: int(), done: int(), failed: int() }),
  tokens_processed: int(),
  truncated: int(),
  dimensions: nullable(int()),
  created_at: str(undefined, { format: 'date-time' }),
  started_at: nullable(str(undefined, { format: 'date-time' })),
  finished_at: nullable(str(undefined, { format: 'date-time' })),
  throughput: obj({ texts_per_second: nullable({ type: 'number' }), tokens_per_second: nullable({ type: 'number' }) }),
  error: nullable(str()),
  links: { type: 'object', additionalProperties: { type: 'string' } },
});

export const jobListSchema: SchemaObject = obj({
  object: str(undefined, { enum: ['list'] }),
  data: { type: 'array', items: jobViewSchema },
  total: int(),
  limit: int(),
  offset: int(),
  has_more: { type: 'boolean' },
});
