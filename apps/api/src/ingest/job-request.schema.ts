import type { SchemaObject } from '@nestjs/swagger';
import { z } from 'zod';
import { queryFlag, resolveTask, TASK_MODULES, TASK_NAMES, TASK_OPTIONS, type TaskName, type TaskOption } from '#models';
import { assertPlainJson, checkCallbackUrl } from '#shared';

/** Longest retention a job may ask for: ten years. */
export const MAX_EXPIRES_AFTER = 10 * 365 * 24 * 3600;

export const MAX_METADATA_BYTES = 16 * 1024;

/** Every option by name: each task's own (from its module), then truncate. */
export const OPTIONS: Readonly<Record<string, TaskOption>> = Object.freeze(Object.fromEntries(TASK_OPTIONS.map(({ name, option }) => [name, option])));
export type OptionName = string;
export const OPTION_NAMES: readonly OptionName[] = Object.freeze(Object.keys(OPTIONS));

/** The task each option applies to; undefined: all of them. */
export const OPTION_TASKS: Readonly<Record<OptionName, TaskName | undefined>> = Object.freeze(
  Object.fromEntries(TASK_OPTIONS.map(({ name, task }) => [name, task as TaskName | undefined])),
);

const isKnownTask = (value: string): boolean => {
  try {
    resolveTask(value);
    return true;
  } catch {
    return false;
  }
};

/** Depth, prototype keys and size of a metadata object, checked without recursion before JSON.stringify. */
function isSmallPlainJson(value: object): boolean {
  try {
    assertPlainJson(value, 'metadata');
  } catch {
    return false;
  }
  return Buffer.byteLength(JSON.stringify(value), 'utf8') <= MAX_METADATA_BYTES;
}

const isCallbackUrl = (value: string): boolean => value === '' || !('error' in checkCallbackUrl(value));

const taskSchema = z
  .string()
  .refine(isKnownTask)
  .meta({ description: TASK_MODULES.map((task) => `${task.name} (${task.aliases.join(', ')})`).join(' or ') });

// Judged as sent: zod's record drops a "__proto__" key from its copy before any check could see it.
const metadataSchema = z.preprocess(
  (value, ctx) => {
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && !isSmallPlainJson(value))
      ctx.addIssue({ code: 'custom', message: 'metadata is too deep, too large or has a forbidden key' });
    return value;
  },
  z.record(z.string(), z.unknown()),
);

const callbackUrlSchema = z.string().refine(isCallbackUrl);

/** The options of a JSON job, each checked on its own (job-params.ts says which is refused first). */
export const optionFields: Readonly<Record<OptionName, z.ZodType>> = Object.fromEntries(OPTION_NAMES.map((name) => [name, (OPTIONS[name] as TaskOption).body]));

/** The options of one task: another task's options are refused unless absent. */
const onlyFor = (task: TaskName, fields: Readonly<Record<OptionName, z.ZodType>>): Record<OptionName, z.ZodType> =>
  Object.fromEntries(OPTION_NAMES.map((name) => [name, (OPTION_TASKS[name] ?? task) === task ? (fields[name] as z.ZodType) : z.undefined().optional()]));

const paramFields = {
  task: taskSchema,
  model: z.string().nullish().meta({ description: 'model id or registry name; the task default when absent' }),
  options: z.strictObject(optionFields).nullish(),
  metadata: metadataSchema.nullish().meta({ description: 'any JSON object of at most 16 KiB, returned with the job' }),
  callback_url: callbackUrlSchema.nullish().meta({ description: 'http(s) URL called once when the job ends (webhook)' }),
  expires_after: z.int().min(1).max(MAX_EXPIRES_AFTER).nullish().meta({ description: 'seconds the job and its results are kept once it ends; RETENTION_SECONDS when absent' }),
  dedup: z
    .boolean()
    .nullish()
    .meta({ description: 'true (the default) computes identical texts of the job once and copies the result to each; false computes every text on its own' }),
};

/** The parameters of a JSON job (its body less the corpus), for a job of `task`. */
export const JOB_PARAMS_SCHEMAS = perTask((task) => z.looseObject({ ...paramFields, options: z.strictObject(onlyFor(task, optionFields)).nullish() }));

/** The schema that judges parameters naming `task`; an unknown task fails them all. */
export const jobParamsSchemaFor = (task: unknown) => (typeof task === 'string' && isKnownTask(task) ? JOB_PARAMS_SCHEMAS[resolveTask(task)] : z.looseObject(paramFields));

const CORPUS_DESCRIPTION = 'The corpus is named by exactly one of inputs, input_file_id or input_object (400 INVALID_INPUT otherwise).';

const inputItemSchema = z.union([z.string(), z.looseObject({ id: z.union([z.string(), z.number()]).optional(), text: z.string() })]);

/**
 * The application/json body of POST /v1/jobs. paramsFromBody (job-params.ts) validates its
 * parameters with the same fields; the corpus is checked by the ingest as it reads it.
 */
export const jobRequestSchema = z
  .looseObject({
    ...paramFields,
    inputs: z.array(inputItemSchema).optional().meta({ description: 'the texts, each a string or {"id"?, "text"}' }),
    input_file_id: z.string().optional().meta({
      description:
        'a file uploaded through POST /v1/files (purpose user_data or batch) of this tenant, read as NDJSON {"id"?, "text"} lines; nothing is copied. 404 INPUT_NOT_FOUND when there is none',
      example: 'file-abc123',
    }),
    input_object: z.string().optional().meta({
      description:
        'the path of an object the operator put in the store (RESULTS_DIR), read as NDJSON {"id"?, "text"} lines; nothing is copied. Paths under jobs/ and files/ are refused (400 INVALID_INPUT); 404 INPUT_NOT_FOUND when there is no such object',
      example: 'corpora/2026/docs.jsonl',
    }),
  })
  .refine((body) => ['inputs', 'input_file_id', 'input_object'].filter((field) => body[field as keyof typeof body] !== undefined).length === 1, CORPUS_DESCRIPTION)
  .meta({
    id: 'JobRequest',
    description: CORPUS_DESCRIPTION,
    oneOf: [{ required: ['inputs'] }, { required: ['input_file_id'] }, { required: ['input_object'] }],
    examples: [
      { task: 'embed', inputs: ['first text', { id: 'doc-2', text: 'second text' }], options: { pooling: 'mean' } },
      { task: 'sentiment', input_object: 'corpora/2026/docs.jsonl', options: { top_k: 2 }, metadata: { project: 'reviews' } },
    ],
  });

const digits = z.string().regex(/^\d+$/).transform(Number);

/** The query parameters of an NDJSON upload, each checked on its own. */
export const queryFields = {
  task: taskSchema,
  model: z.string().optional().meta({ description: 'model id or registry name; the task default when absent' }),
  ...(Object.fromEntries(OPTION_NAMES.map((name) => [name, (OPTIONS[name] as TaskOption).query])) as Record<OptionName, z.ZodType>),
  metadata: z
    .string()
    .transform((text, ctx) => {
      try {
        return JSON.parse(text) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not JSON' });
        return z.NEVER;
      }
    })
    .pipe(metadataSchema.nullable())
    .optional()
    .meta({ description: 'a URL-encoded JSON object of at most 16 KiB, returned with the job' }),
  callback_url: callbackUrlSchema.optional().meta({ description: 'http(s) URL called once when the job ends (webhook)' }),
  expires_after: digits
    .pipe(z.int().min(1).max(MAX_EXPIRES_AFTER))
    .optional()
    .meta({ description: 'seconds the job and its results are kept once it ends; RETENTION_SECONDS when absent' }),
  dedup: queryFlag
    .optional()
    .meta({ description: 'true (the default) computes identical texts of the job once and copies the result to each; false computes every text on its own' }),
};

/** The query string of an NDJSON upload to POST /v1/jobs: every value a string, given once; other parameters are ignored. */
export const jobQuerySchema = z.looseObject(queryFields);

const JOB_QUERY_SCHEMAS = perTask((task) => z.looseObject({ ...queryFields, ...onlyFor(task, queryFields) }));

/** The schema that judges a query string naming `task`; an unknown task fails it. */
export const jobQuerySchemaFor = (task: unknown) => (typeof task === 'string' && isKnownTask(task) ? JOB_QUERY_SCHEMAS[resolveTask(task)] : jobQuerySchema);

/** The NDJSON body of POST /v1/jobs, for large uploads. */
export const ndjsonBodySchema: SchemaObject = {
  type: 'string',
  description: 'one {"id"?, "text"} object (or a bare JSON string) per line; task, model and options in the query string',
};

function perTask<Schema>(schemaOf: (task: TaskName) => Schema): Readonly<Record<TaskName, Schema>> {
  return Object.freeze(Object.fromEntries(TASK_NAMES.map((task) => [task, schemaOf(task)])) as Record<TaskName, Schema>);
}
