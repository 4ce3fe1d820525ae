import { InputError, type JobOptions, assertPlainJson, forbiddenKey, checkCallbackUrl } from '#shared';
import { resolveTask, UnknownTaskError, type TaskName } from '#models';

/** What a submission asks for, validated before any input is read. */
export interface JobParams {
  task: TaskName;
  /** As the client sent it; resolved against MODEL_DIR / the registry later. */
  model: string | undefined;
  /** With the task's defaults filled in, so workers and job views never guess. */
  options: JobOptions;
  metadata: Record<string, unknown> | null;
  /** Webhook target (`callback_url`), checked to be an http(s) URL; undefined when not given. */
  callbackUrl?: string;
  /** Retention (`expires_after`): seconds the job and its results are kept once it ends; undefined: RETENTION_SECONDS. */
  expiresAfter?: number;
}

/** Longest retention a job may ask for: ten years. */
export const MAX_EXPIRES_AFTER = 10 * 365 * 24 * 3600;

export const MAX_METADATA_BYTES = 16 * 1024;

const EMBED_ONLY = new Set(['pooling', 'normalize']);
const SENTIMENT_ONLY = new Set(['top_k']);
const OPTION_NAMES = ['pooling', 'normalize', 'top_k', 'truncate'] as const;
type OptionName = (typeof OPTION_NAMES)[number];

const optionError = (field: string, message: string) => new InputError('INVALID_OPTION', message, { field });

/** From an application/json body: the whole request object. */
export function paramsFromBody(body: Record<string, unknown>): JobParams {
  const bad = forbiddenKey(body);
  if (bad !== undefined) throw new InputError('INVALID_INPUT', `the key "${bad}" is not allowed in a job`, { field: bad });
  const task = parseTask(body.task);
  const model = parseModel(body.model);
  let raw: Partial<Record<OptionName, unknown>> = {};
  if (body.options !== undefined && body.options !== null) {
    if (typeof body.options !== 'object' || Array.isArray(body.options)) throw optionError('options', 'field "options" must be an object');
    raw = body.options as Record<string, unknown>;
  }
  return {
    task,
    model,
    options: parseOptions(task, raw, 'json'),
    metadata: parseMetadata(body.metadata),
    callbackUrl: parseCallbackUrl(body.callback_url),
    expiresAfter: parseExpiresAfter(body.expires_after, 'json'),
  };
}

/** From the query string of an NDJSON upload; every value is a string there. */
export function paramsFromQuery(query: Record<string, unknown>): JobParams {
  const single = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new InputError('INVALID_INPUT', `query parameter "${name}" must be given once`, { field: name });
    return value;
  };
  const badKey = forbiddenKey(query);
  if (badKey !== undefined) throw new InputError('INVALID_INPUT', `query parameter "${badKey}" is not allowed`, { field: badKey });
  const task = parseTask(single('task'));
  const model = parseModel(single('model'));
  const raw: Partial<Record<OptionName, unknown>> = {};
  for (const name of OPTION_NAMES) {
    const value = single(name);
    if (value !== undefined) raw[name] = value;
  }
  const metadataText = single('metadata');
  let metadata: unknown;
  if (metadataText !== undefined) {
    try {
      metadata = JSON.parse(metadataText);
    } catch {
      throw new InputError('INVALID_JSON', 'query parameter "metadata" must be a URL-encoded JSON object', { field: 'metadata' });
    }
  }
  return {
    task,
    model,
    options: parseOptions(task, raw, 'query'),
    metadata: parseMetadata(metadata),
    callbackUrl: parseCallbackUrl(single('callback_url')),
    expiresAfter: parseExpiresAfter(single('expires_after'), 'query'),
  };
}

function parseExpiresAfter(value: unknown, from: 'json' | 'query'): number | undefined {
  if (value === undefined || value === null) return undefined;
  const n = from === 'query' && typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1 || n > MAX_EXPIRES_AFTER) {
    throw optionError(
      'expires_after',
      `field "expires_after" must be a whole number of seconds from 1 to ${MAX_EXPIRES_AFTER} (how long the job and its results are kept once it ends)`,
    );
  }
  return n;
}

function parseCallbackUrl(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw optionError('callback_url', 'field "callback_url" must be a string (an http:// or https:// URL)');
  const checked = checkCallbackUrl(value);
  if ('error' in checked) throw optionError('callback_url', `"callback_url" ${checked.error}`);
  return checked.url;
}

function parseTask(value: unknown): TaskName {
  try {
    return resolveTask(typeof value === 'string' ? value : '');
  } catch (error) {
    if (!(error instanceof UnknownTaskError)) throw error;
    // resolveTask's message lists the valid names, which a client needs in both cases.
    const message = typeof value === 'string' ? error.message : `field "task" is required (${error.message})`;
    throw new InputError('UNKNOWN_TASK', message, { field: 'task' });
  }
}

function parseModel(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new InputError('INVALID_MODEL', 'field "model" must be a string', { field: 'model' });
  return value;
}

function parseOptions(task: TaskName, raw: Partial<Record<OptionName, unknown>>, from: 'json' | 'query'): JobOptions {
  for (const name of Object.keys(raw)) {
    if (!(OPTION_NAMES as readonly string[]).includes(name)) {
      throw optionError(name, `unknown option "${name}"; options are ${OPTION_NAMES.join(', ')}`);
    }
    if (raw[name as OptionName] === undefined) continue;
    if (task !== 'embed' && EMBED_ONLY.has(name)) throw optionError(name, `option "${name}" applies to embed jobs only`);
    if (task !== 'sentiment' && SENTIMENT_ONLY.has(name)) throw optionError(name, `option "${name}" applies to sentiment jobs only`);
  }
  const truncate = parseBool('truncate', raw.truncate, from) ?? true;
  if (task === 'embed') {
    const pooling = raw.pooling ?? 'mean';
    if (pooling !== 'mean' && pooling !== 'cls') throw optionError('pooling', 'option "pooling" must be "mean" or "cls"');
    return { pooling, normalize: parseBool('normalize', raw.normalize, from) ?? true, truncate };
  }
  return { topK: parseTopK(raw.top_k, from), truncate };
}

function parseBool(name: string, value: unknown, from: 'json' | 'query'): boolean | undefined {
  if (value === undefined) return undefined;
  if (typeof value === 'boolean') return value;
  if (from === 'query' && (value === 'true' || value === 'false')) return value === 'true';
  throw optionError(name, `option "${name}" must be true or false`);
}

function parseTopK(value: unknown, from: 'json' | 'query'): number | null {
  if (value === undefined || value === null) return null;
  if (from === 'query' && value === 'null') return null;
  const n = from === 'query' && typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 1) throw optionError('top_k', 'option "top_k" must be an integer >= 1, or null for all labels');
  return n;
}

function parseMetadata(value: unknown): Record<string, unknown> | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) throw new InputError('INVALID_INPUT', 'field "metadata" must be a JSON object', { field: 'metadata' });
  // Depth and prototype keys first, without recursion: JSON.stringify below would overflow the stack on deep nesting.
  assertPlainJson(value, 'metadata');
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > MAX_METADATA_BYTES) {
    throw new InputError('INVALID_INPUT', `field "metadata" is ${bytes} bytes of JSON; the limit is ${MAX_METADATA_BYTES}`, { field: 'metadata' });
  }
  return value as Record<string, unknown>;
}
