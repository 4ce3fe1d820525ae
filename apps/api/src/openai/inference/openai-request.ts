import { InputError } from '../../../../../libs/shared/src/index.js';
import type { TaskName } from '../../../../../libs/models/src/index.js';

/** The inference endpoints a request (or a batch) can target, and the shardwise task each runs. */
export const ENDPOINTS = { '/v1/embeddings': 'embed', '/v1/classifications': 'sentiment' } as const satisfies Record<string, TaskName>;
export type OpenAIEndpoint = keyof typeof ENDPOINTS;
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
  /** OpenAI's `dimensions`: accepted only when it equals the model's width (no Matryoshka truncation). */
  dimensions: number | null;
  /** Shardwise extension: false fails over-long inputs (text_too_long) instead of truncating them. */
  truncate: boolean | undefined;
  /** Classifications: labels kept in `scores` (null or absent: all). */
  topK: number | null | undefined;
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

const ALLOWED: Record<OpenAIEndpoint, readonly string[]> = {
  '/v1/embeddings': ['model', 'input', 'encoding_format', 'dimensions', 'user', 'truncate'],
  '/v1/classifications': ['model', 'input', 'user', 'truncate', 'top_k'],
};

export function parseInferenceBody(endpoint: OpenAIEndpoint, body: unknown): InferenceRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new RequestBodyError('the body must be a JSON object with "model" and "input"', null);
  const fields = body as Record<string, unknown>;
  for (const key of Object.keys(fields)) {
    if (!ALLOWED[endpoint].includes(key)) {
      throw new RequestBodyError(`Unrecognized request argument supplied: ${key} (${endpoint} takes ${ALLOWED[endpoint].join(', ')})`, key, 'unknown_parameter');
    }
  }
  const { model, input } = fields;
  if (typeof model !== 'string' || model === '') throw new RequestBodyError('"model" is required: a model id or registry name (see GET /v1/models)', 'model', 'invalid_model');
  let inputs: string[];
  let single = false;
  if (typeof input === 'string') {
    inputs = [input];
    single = true;
  } else if (Array.isArray(input)) {
    if (input.length === 0) throw new RequestBodyError('"input" must not be an empty array', 'input');
    if (input.length > MAX_INPUTS_PER_REQUEST)
      throw new RequestBodyError(`"input" has ${input.length} items; at most ${MAX_INPUTS_PER_REQUEST} per request`, 'input', 'too_many_inputs');
    const bad = input.findIndex((item) => typeof item !== 'string');
    if (bad >= 0) {
      const tokens = typeof input[bad] === 'number' || Array.isArray(input[bad]);
      throw new RequestBodyError(tokens ? '"input" as token ids is not supported; send text (a string or an array of strings)' : `"input[${bad}]" must be a string`, 'input');
    }
    inputs = input as string[];
  } else if (input === undefined) {
    throw new RequestBodyError('"input" is required: a string or an array of strings', 'input');
  } else {
    throw new RequestBodyError('"input" must be a string or an array of strings', 'input');
  }

  const format = fields.encoding_format ?? 'float';
  if (format !== 'float' && format !== 'base64') throw new RequestBodyError('"encoding_format" must be "float" or "base64"', 'encoding_format', 'invalid_option');
  const dimensions = fields.dimensions ?? null;
  if (dimensions !== null && !(typeof dimensions === 'number' && Number.isSafeInteger(dimensions) && dimensions >= 1)) {
    throw new RequestBodyError('"dimensions" must be a positive integer', 'dimensions', 'invalid_option');
  }
  if (fields.user !== undefined && typeof fields.user !== 'string') throw new RequestBodyError('"user" must be a string', 'user', 'invalid_option');
  if (fields.truncate !== undefined && typeof fields.truncate !== 'boolean') throw new RequestBodyError('"truncate" must be true or false', 'truncate', 'invalid_option');
  const topK = fields.top_k;
  if (topK !== undefined && topK !== null && !(typeof topK === 'number' && Number.isSafeInteger(topK) && topK >= 1)) {
    throw new RequestBodyError('"top_k" must be an integer >= 1, or null for all labels', 'top_k', 'invalid_option');
  }
  return {
    model,
    inputs,
    single,
    encodingFormat: format,
    dimensions: dimensions as number | null,
    truncate: fields.truncate as boolean | undefined,
    topK: topK as number | null | undefined,
  };
}

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
