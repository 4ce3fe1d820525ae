import type { SchemaObject } from '@nestjs/swagger';
import type { z } from 'zod';
import { int, nullable, obj, openApiSchemaOf, str } from '../docs/schema-builders.js';
import { TASK_NAMES, TASK_OPTIONS, type ListedOption } from '#models';
import { ALWAYS_SHOWN_OPTIONS } from '#shared';

/**
 * A job view's options (jobViewOptions), from the task modules: the always-shown ones nullable, the
 * others marked with the task whose jobs show them.
 */
export function jobViewOptionsSchema(listed: readonly ListedOption[] = TASK_OPTIONS): SchemaObject {
  const always: readonly string[] = ALWAYS_SHOWN_OPTIONS;
  const shown = listed.filter(({ name }) => always.includes(name)).sort((a, b) => always.indexOf(a.name) - always.indexOf(b.name));
  const others = listed.filter(({ name }) => !always.includes(name));
  return obj(
    Object.fromEntries([
      ...shown.map(({ name, option }) => [name, nullable(valueSchema(option.value))]),
      ...others.map(({ name, task, option }) => [name, { ...valueSchema(option.value), description: `${task ?? 'all'} jobs only` }]),
    ]),
  );
}

/** A stored option value's schema; `readOnly` (a zod readonly array) means nothing in a response. */
function valueSchema(value: z.ZodType): SchemaObject {
  const { readOnly: _, ...schema } = openApiSchemaOf(value);
  return schema;
}

/** A JobView (libs/shared/src/jobs/job-view.ts) and a JobList, for the OpenAPI document. */
export const jobViewSchema: SchemaObject = obj({
  id: str(undefined, { example: 'job_3mJr7AoUXx2Wqd5wGxgYbQ' }),
  object: str(undefined, { enum: ['job'] }),
  task: str(undefined, { enum: [...TASK_NAMES] }),
  model: str(),
  state: str(undefined, { enum: ['queued', 'running', 'completed', 'failed', 'cancelled'] }),
  options: jobViewOptionsSchema(),
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
