import { z } from 'zod';
import { InputError } from '#shared';
import { CLASSIFICATION_FUNCTIONS, TASK_MODULES, type ClassificationFunction, type TaskName } from '#models';
import { OpenAIError } from '../openai-error.js';

/** The inference endpoints a request (or a batch) can target, and the shardwise task each runs. */
export type OpenAIEndpoint = NonNullable<(typeof TASK_MODULES)[number]['openaiEndpoint']>;
export const ENDPOINTS: Readonly<Record<OpenAIEndpoint, TaskName>> = Object.freeze(
  Object.fromEntries(TASK_MODULES.flatMap((task) => (task.openaiEndpoint === undefined ? [] : [[task.openaiEndpoint, task.name]]))) as Record<OpenAIEndpoint, TaskName>,
);
export const isEndpoint = (value: unknown): value is OpenAIEndpoint => typeof value === 'string' && Object.hasOwn(ENDPOINTS, value);

/** OpenAI's own limit on inputs per embeddings request; the same here, for both endpoints. */
export const MAX_INPUTS_PER_REQUEST = 2048;

/** A validated body of POST /v1/embeddings or /v1/classifications (or of one batch line). */
export interface InferenceRequest {
  model: string;
  /** `input` as a list; `single` says it was one string. */
  inputs: string[];
  single: boolean;
  encodingFormat: 'float' | 'base64';
  /** OpenAI's `dimensions`: the first N values of each embedding, re-normalised (Matryoshka); null: the model's width. */
  dimensions: number | null;
  /** Shardwise extension: false fails over-long inputs (text_too_long) instead of truncating them. */
  truncate: boolean | undefined;
  /** Classifications: labels kept in `scores` (null or absent: all). */
  topK: number | null | undefined;
  /** Classifications: softmax, sigmoid or none (null or absent: the model's own). */
  functionToApply: ClassificationFunction | null | undefined;
}

/** A problem with a request body; `param` names the field as OpenAI does (`input`, `model`, ...). */
export class RequestBodyError extends Error {
  override readonly name = 'RequestBodyError';
  constructor(
    message: string,
    readonly param: string | null,
    readonly code: 'invalid_input' | 'invalid_model' | 'invalid_option' | 'too_many_inputs' | 'unknown_parameter' = 'invalid_input',
  ) {
    super(message);
  }
}

const inferenceFields = {
  model: z.string().min(1).meta({ description: 'a model id or registry name (GET /v1/models)' }),
  input: z
    .union([z.string(), z.array(z.string()).min(1).max(MAX_INPUTS_PER_REQUEST)])
    .meta({ description: `one text, or a list of at most ${MAX_INPUTS_PER_REQUEST}; token ids are not supported` }),
  user: z.string().optional().meta({ description: 'ignored' }),
  truncate: z.boolean().optional().meta({ description: 'shardwise extension: false fails over-long inputs (text_too_long) instead of truncating them; true when absent' }),
};

/** The body of POST /v1/embeddings (and of a batch line for it). */
export const embeddingsRequestSchema = z
  .strictObject({
    model: inferenceFields.model,
    input: inferenceFields.input,
    encoding_format: z.enum(['float', 'base64']).nullish().meta({ description: 'float when absent; base64: little-endian float32' }),
    dimensions: z
      .int()
      .min(1)
      .nullish()
      .meta({ description: "the first N values of each embedding, L2-normalised again (for Matryoshka models); at most the model's width; absent: all" }),
    user: inferenceFields.user,
    truncate: inferenceFields.truncate,
  })
  .meta({ id: 'EmbeddingsRequest', description: 'OpenAI-compatible embeddings request', examples: [{ model: 'all-MiniLM-L6-v2', input: ['first text', 'second text'] }] });

/** The body of POST /v1/classifications (and of a batch line for it). */
export const classificationsRequestSchema = z
  .strictObject({
    model: inferenceFields.model,
    input: inferenceFields.input,
    user: inferenceFields.user,
    truncate: inferenceFields.truncate,
    top_k: z.int().min(1).nullish().meta({ description: 'labels kept in scores; null or absent for all' }),
    function_to_apply: z
      .enum(CLASSIFICATION_FUNCTIONS)
      .nullish()
      .meta({ description: "softmax, sigmoid or none (raw logits); null or absent: the model's own (sigmoid for multi-label and single-logit models, softmax otherwise)" }),
  })
  .meta({ id: 'ClassificationsRequest', description: 'shardwise extension in the OpenAI style', examples: [{ model: 'distilbert-sst2', input: 'what a fine day', top_k: 1 }] });

export const INFERENCE_REQUEST_SCHEMAS = { '/v1/embeddings': embeddingsRequestSchema, '/v1/classifications': classificationsRequestSchema } as const;

/**
 * Each field's refusal, in the order fields are checked (the first refused field is reported): the
 * schemas above decide what is valid, this table says what is wrong in OpenAI's words.
 */
const FIELD_PROBLEMS: ReadonlyArray<readonly [string, (value: unknown) => RequestBodyError]> = [
  ['model', () => new RequestBodyError('"model" is required: a model id or registry name (see GET /v1/models)', 'model', 'invalid_model')],
  ['input', inputProblem],
  ['encoding_format', () => new RequestBodyError('"encoding_format" must be "float" or "base64"', 'encoding_format', 'invalid_option')],
  ['dimensions', () => new RequestBodyError('"dimensions" must be an integer >= 1 (at most the model\'s embedding width)', 'dimensions', 'invalid_option')],
  ['user', () => new RequestBodyError('"user" must be a string', 'user', 'invalid_option')],
  ['truncate', () => new RequestBodyError('"truncate" must be true or false', 'truncate', 'invalid_option')],
  ['top_k', () => new RequestBodyError('"top_k" must be an integer >= 1, or null for all labels', 'top_k', 'invalid_option')],
  [
    'function_to_apply',
    () =>
      new RequestBodyError(
        `"function_to_apply" must be one of ${CLASSIFICATION_FUNCTIONS.map((f) => `"${f}"`).join(', ')}, or null for the model's own`,
        'function_to_apply',
        'invalid_option',
      ),
  ],
];

function inputProblem(input: unknown): RequestBodyError {
  if (input === undefined) return new RequestBodyError('"input" is required: a string or an array of strings', 'input');
  if (!Array.isArray(input)) return new RequestBodyError('"input" must be a string or an array of strings', 'input');
  if (input.length === 0) return new RequestBodyError('"input" must not be an empty array', 'input');
  if (input.length > MAX_INPUTS_PER_REQUEST)
    return new RequestBodyError(`"input" has ${input.length} items; at most ${MAX_INPUTS_PER_REQUEST} per request`, 'input', 'too_many_inputs');
  const bad = input.findIndex((item) => typeof item !== 'string');
  const tokens = typeof input[bad] === 'number' || Array.isArray(input[bad]);
  return new RequestBodyError(tokens ? '"input" as token ids is not supported; send text (a string or an array of strings)' : `"input[${bad}]" must be a string`, 'input');
}

export function parseInferenceBody(endpoint: OpenAIEndpoint, body: unknown): InferenceRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new RequestBodyError('the body must be a JSON object with "model" and "input"', null);
  const schema = INFERENCE_REQUEST_SCHEMAS[endpoint];
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    const extra = parsed.error.issues.find((issue) => issue.code === 'unrecognized_keys' && issue.path.length === 0);
    const unknown = extra?.code === 'unrecognized_keys' ? extra.keys[0] : undefined;
    if (unknown !== undefined) {
      const allowed = Object.keys(schema.shape).join(', ');
      throw new RequestBodyError(`Unrecognized request argument supplied: ${unknown} (${endpoint} takes ${allowed})`, unknown, 'unknown_parameter');
    }
    const refused = new Set(parsed.error.issues.map((issue) => issue.path[0]));
    const [field, problem] = FIELD_PROBLEMS.find(([name]) => refused.has(name)) ?? ['', () => new RequestBodyError(parsed.error.issues[0]?.message ?? 'invalid body', null)];
    throw problem((body as Record<string, unknown>)[field]);
  }
  const fields: { encoding_format?: 'float' | 'base64' | null; dimensions?: number | null; top_k?: number | null } & z.infer<typeof classificationsRequestSchema> = parsed.data;
  return {
    model: fields.model,
    inputs: typeof fields.input === 'string' ? [fields.input] : fields.input,
    single: typeof fields.input === 'string',
    encodingFormat: fields.encoding_format ?? 'float',
    dimensions: fields.dimensions ?? null,
    truncate: fields.truncate,
    topK: fields.top_k,
    functionToApply: fields.function_to_apply,
  };
}

/** The request of a POST to `endpoint`, or OpenAI's 400 for its body (the @Body() DTO of the inference routes). */
export const inferenceRequestOf =
  (endpoint: OpenAIEndpoint) =>
  (body: unknown): InferenceRequest => {
    if (body === undefined) throw new OpenAIError(400, 'send a JSON body (Content-Type: application/json) with "model" and "input"', null, 'invalid_json');
    try {
      return parseInferenceBody(endpoint, body);
    } catch (error) {
      if (error instanceof RequestBodyError) throw new OpenAIError(400, error.message, error.param, error.code);
      throw error;
    }
  };

/** One line of a batch input file. */
export interface BatchLine {
  customId: string;
  request: InferenceRequest;
}

const LINE_KEYS = ['custom_id', 'method', 'url', 'body'];

/**
 * Parses and validates one line of a batch input file:
 * `{"custom_id", "method": "POST", "url": <the batch's endpoint>, "body": {...}}`.
 * Every problem is an InputError naming the line, with `field` as OpenAI's `param` (`body.input`, ...).
 */
export function parseBatchLine(text: string, line: number, endpoint: OpenAIEndpoint): BatchLine {
  const fail = (message: string, field?: string, code: 'INVALID_INPUT' | 'INVALID_JSON' | 'INVALID_MODEL' | 'INVALID_OPTION' | 'TOO_MANY_INPUTS' = 'INVALID_INPUT') =>
    new InputError(code, `line ${line}: ${message}`, { line, ...(field ? { field } : {}) });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw fail(`invalid JSON (${(error as Error).message})`, undefined, 'INVALID_JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw fail('each line must be a JSON object with "custom_id", "method", "url" and "body"');
  const request = value as Record<string, unknown>;
  for (const key of Object.keys(request)) if (!LINE_KEYS.includes(key)) throw fail(`unknown field "${key}"; a line has ${LINE_KEYS.join(', ')}`, key);
  const customId = request.custom_id;
  if (typeof customId !== 'string' || customId === '') throw fail('"custom_id" must be a non-empty string', 'custom_id');
  if (customId.includes('\u0000')) throw fail('"custom_id" must not contain U+0000', 'custom_id');
  if (request.method !== 'POST') throw fail(`"method" must be "POST", got ${JSON.stringify(request.method ?? null)}`, 'method');
  if (request.url !== endpoint) throw fail(`"url" must be the batch's endpoint ${JSON.stringify(endpoint)}, got ${JSON.stringify(request.url ?? null)}`, 'url');
  try {
    return { customId, request: parseInferenceBody(endpoint, request.body) };
  } catch (error) {
    if (!(error instanceof RequestBodyError)) throw error;
    const code =
      error.code === 'invalid_model'
        ? 'INVALID_MODEL'
        : error.code === 'too_many_inputs'
          ? 'TOO_MANY_INPUTS'
          : error.code === 'invalid_option'
            ? 'INVALID_OPTION'
            : 'INVALID_INPUT';
    throw fail(`body: ${error.message}`, error.param === null ? 'body' : `body.${error.param}`, code);
  }
}

/**
 * The shardwise item ids of a request's inputs: the custom_id for the first, `custom_id` + U+0000 +
 * position for the others (custom_ids may not hold U+0000, so these never collide). The ingest's
 * duplicate-id check thereby refuses a repeated custom_id, naming both lines.
 */
export const itemId = (customId: string, position: number): string => (position === 0 ? customId : `${customId}\u0000${position}`);
