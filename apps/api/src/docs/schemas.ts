import type { SchemaObject } from '@nestjs/swagger';

/** JSON Schemas of the API's bodies, for the OpenAPI document (the controllers reference them in their decorators). */

const str = (description?: string, extra: SchemaObject = {}): SchemaObject => ({ type: 'string', ...(description ? { description } : {}), ...extra });
const int = (description?: string, extra: SchemaObject = {}): SchemaObject => ({ type: 'integer', ...(description ? { description } : {}), ...extra });
const nullable = (schema: SchemaObject): SchemaObject => ({ ...schema, nullable: true });
const obj = (properties: Record<string, SchemaObject>, required?: string[]): SchemaObject => ({ type: 'object', properties, ...(required ? { required } : {}) });
const unix = (description: string): SchemaObject => nullable(int(`${description} (unix seconds)`));

const errorShape = obj({
  error: obj({
    code: str('stable code, e.g. DUPLICATE_ID, LINE_TOO_LONG, INPUT_NOT_FOUND, BACKLOG_FULL, JOB_NOT_FOUND'),
    message: str('what is wrong and where'),
    line: int('1-based line of an NDJSON body'),
    field: str(),
  }),
});

const jobView = obj({
  id: str(undefined, { example: 'job_3mJr7AoUXx2Wqd5wGxgYbQ' }),
  object: str(undefined, { enum: ['job'] }),
  task: str(undefined, { enum: ['embed', 'sentiment'] }),
  model: str(),
  state: str(undefined, { enum: ['queued', 'running', 'completed', 'failed', 'cancelled'] }),
  options: obj({
    pooling: nullable(str(undefined, { enum: ['mean', 'cls'] })),
    normalize: nullable({ type: 'boolean' }),
    top_k: nullable(int()),
    truncate: nullable({ type: 'boolean' }),
  }),
  metadata: nullable({ type: 'object', additionalProperties: true }),
  counts: obj({ total: int(), succeeded: int(), failed: int() }),
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

export const Shardwise = {
  error: errorShape,
  job: jobView,
  jobList: obj({ object: str(undefined, { enum: ['list'] }), data: { type: 'array', items: jobView }, total: int(), limit: int(), offset: int(), has_more: { type: 'boolean' } }),
  jobRequest: {
    ...obj(
      {
        task: str('embed (embedding, feature-extraction) or sentiment (classify, text-classification, sentiment-analysis)'),
        model: str('model id or registry name; the task default when absent'),
        options: obj({ pooling: str(undefined, { enum: ['mean', 'cls'] }), normalize: { type: 'boolean' }, top_k: nullable(int()), truncate: { type: 'boolean' } }),
        metadata: { type: 'object', additionalProperties: true },
        callback_url: str('http(s) URL called once when the job ends (webhook)'),
        inputs: { type: 'array', items: { oneOf: [str(), obj({ id: { oneOf: [str(), { type: 'number' }] }, text: str() }, ['text'])] } },
        input_file_id: str(
          'a file uploaded through POST /v1/files (purpose user_data or batch) of this tenant, read as NDJSON {"id"?, "text"} lines; nothing is copied. 404 INPUT_NOT_FOUND when there is none',
          {
            example: 'file-abc123',
          },
        ),
        input_object: str(
          'the path of an object the operator put in the store (RESULTS_DIR), read as NDJSON {"id"?, "text"} lines; nothing is copied. Paths under jobs/ and files/ are refused (400 INVALID_INPUT); 404 INPUT_NOT_FOUND when there is no such object',
          {
            example: 'corpora/2026/docs.jsonl',
          },
        ),
      },
      ['task'],
    ),
    description: 'The corpus is named by exactly one of inputs, input_file_id or input_object (400 INVALID_INPUT otherwise).',
    oneOf: [{ required: ['inputs'] }, { required: ['input_file_id'] }, { required: ['input_object'] }],
  } satisfies SchemaObject,
  ndjsonBody: str('one {"id"?, "text"} object (or a bare JSON string) per line; task, model and options in the query string'),
  resultLine: {
    oneOf: [
      obj({ id: str(), index: int(), embedding: { type: 'array', items: { type: 'number' } }, truncated: { type: 'boolean' } }),
      obj({
        id: str(),
        index: int(),
        label: str(),
        score: { type: 'number' },
        scores: { type: 'object', additionalProperties: { type: 'number' } },
        truncated: { type: 'boolean' },
      }),
      obj({ id: str(), index: int(), error: obj({ code: str(), message: str() }) }),
    ],
  } satisfies SchemaObject,
  models: obj({
    object: str(undefined, { enum: ['list'] }),
    data: {
      type: 'array',
      items: obj({
        id: str(),
        task: { type: 'array', items: str(undefined, { enum: ['embed', 'sentiment'] }) },
        family: nullable(str()),
        dimensions: nullable(int()),
        labels: nullable({ type: 'array', items: str() }),
        max_tokens: nullable(int()),
        default_for: { type: 'array', items: str() },
      }),
    },
  }),
} as const;

const openAIError = obj({ error: obj({ message: str(), type: str(undefined, { example: 'invalid_request_error' }), param: nullable(str()), code: nullable(str()) }) });

const file = obj({
  id: str(undefined, { example: 'file-abc123' }),
  object: str(undefined, { enum: ['file'] }),
  bytes: int(),
  created_at: int('unix seconds'),
  filename: str(),
  purpose: str('batch: a batch input; user_data: a corpus for POST /v1/jobs (input_file_id); batch_output: written by the server', {
    enum: ['batch', 'user_data', 'batch_output'],
  }),
  status: str(undefined, { enum: ['processed'] }),
});

const requestCounts = obj({ total: int(), completed: int(), failed: int() });

const batch = obj({
  id: str(undefined, { example: 'batch_abc123' }),
  object: str(undefined, { enum: ['batch'] }),
  endpoint: str(undefined, { enum: ['/v1/embeddings', '/v1/classifications'] }),
  model: nullable(str('the model of every request')),
  errors: nullable(obj({ object: str(), data: { type: 'array', items: obj({ code: str(), message: str(), param: nullable(str()), line: nullable(int()) }) } })),
  input_file_id: str(),
  completion_window: str(undefined, { enum: ['24h'] }),
  status: str(undefined, { enum: ['validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled'] }),
  output_file_id: nullable(str()),
  error_file_id: nullable(str()),
  created_at: int('unix seconds'),
  in_progress_at: unix('validated, job enqueued'),
  expires_at: int('unix seconds'),
  finalizing_at: unix('job finished'),
  completed_at: unix('output files written'),
  failed_at: unix('validation failed'),
  expired_at: unix('expired'),
  cancelling_at: unix('cancel requested'),
  cancelled_at: unix('cancelled'),
  request_counts: requestCounts,
  metadata: nullable({ type: 'object', additionalProperties: { type: 'string' } }),
  job_id: nullable(str('shardwise extension: the job that runs the batch (GET /v1/jobs/{id})')),
});

const input: SchemaObject = { oneOf: [str(), { type: 'array', items: str(), maxItems: 2048, minItems: 1 }] };
const usage = obj({ prompt_tokens: int(), total_tokens: int() });

export const OpenAI = {
  error: openAIError,
  file,
  batch,
  list: (item: SchemaObject): SchemaObject =>
    obj({ object: str(undefined, { enum: ['list'] }), data: { type: 'array', items: item }, first_id: nullable(str()), last_id: nullable(str()), has_more: { type: 'boolean' } }),
  batchRequest: obj(
    {
      input_file_id: str(),
      endpoint: str(undefined, { enum: ['/v1/embeddings', '/v1/classifications'] }),
      completion_window: str(undefined, { enum: ['24h'] }),
      metadata: { type: 'object', additionalProperties: { type: 'string' }, maxProperties: 16 },
    },
    ['input_file_id', 'endpoint', 'completion_window'],
  ),
  embeddingsRequest: obj(
    {
      model: str('a model id or registry name (GET /v1/models)'),
      input,
      encoding_format: str(undefined, { enum: ['float', 'base64'], default: 'float' }),
      dimensions: int("accepted only when equal to the model's width"),
      user: str('ignored'),
      truncate: { type: 'boolean', default: true, description: 'shardwise extension: false fails over-long inputs instead of truncating them' },
    },
    ['model', 'input'],
  ),
  embeddingsResponse: obj({
    object: str(undefined, { enum: ['list'] }),
    data: {
      type: 'array',
      items: obj({
        object: str(undefined, { enum: ['embedding'] }),
        index: int(),
        embedding: { oneOf: [{ type: 'array', items: { type: 'number' } }, str('base64 of little-endian float32')] },
      }),
    },
    model: str(),
    usage,
  }),
  classificationsRequest: obj(
    {
      model: str(),
      input,
      top_k: nullable(int('labels kept in scores; null for all')),
      user: str('ignored'),
      truncate: { type: 'boolean', default: true },
    },
    ['model', 'input'],
  ),
  classificationsResponse: obj({
    object: str(undefined, { enum: ['list'] }),
    data: {
      type: 'array',
      items: obj({
        object: str(undefined, { enum: ['classification'] }),
        index: int(),
        label: str(),
        score: { type: 'number' },
        scores: { type: 'object', additionalProperties: { type: 'number' } },
      }),
    },
    model: str(),
    usage,
  }),
} as const;
