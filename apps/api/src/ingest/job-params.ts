import type { z } from 'zod';
import { InputError, type JobOptions, assertPlainJson, forbiddenKey, checkCallbackUrl } from '#shared';
import { recordedOptions, resolveTask, taskModule, UnknownTaskError, type TaskName } from '#models';
import {
  jobParamsSchemaFor,
  jobQuerySchemaFor,
  MAX_EXPIRES_AFTER,
  MAX_METADATA_BYTES,
  OPTION_NAMES,
  OPTION_TASKS,
  OPTIONS,
  optionFields,
  queryFields,
  type OptionName,
} from './job-request.schema.js';

export { MAX_EXPIRES_AFTER, MAX_METADATA_BYTES } from './job-request.schema.js';

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
  /** `dedup`: identical texts are computed once; undefined means true (DEDUP_MAX_TEXTS=0 turns it off for all jobs). */
  dedup?: boolean;
}

type Fields = Record<string, unknown>;
/** What is wrong with a refused field, or undefined when this entry is not the reason. */
type Problem = (fields: Fields) => InputError | undefined;

/** From an application/json body: the whole request object. */
export function paramsFromBody(body: Fields): JobParams {
  const bad = forbiddenKey(body);
  if (bad !== undefined) throw new InputError('INVALID_INPUT', `the key "${bad}" is not allowed in a job`, { field: bad });
  const parsed = jobParamsSchemaFor(body.task).safeParse(body);
  if (!parsed.success) throw firstProblem(BODY_PROBLEMS, parsed.error, body);
  const { model, options, callback_url, expires_after, dedup } = parsed.data;
  const task = resolveTask(parsed.data.task);
  return {
    task,
    model: model || undefined,
    options: withDefaults(task, options ?? {}),
    // The body's own object: the parsed record is a copy.
    metadata: (body.metadata ?? null) as Record<string, unknown> | null,
    callbackUrl: callback_url ? checkedUrl(callback_url) : undefined,
    expiresAfter: expires_after ?? undefined,
    dedup: dedup ?? undefined,
  };
}

/** From the query string of an NDJSON upload; every value is a string there. */
export function paramsFromQuery(query: Fields): JobParams {
  const badKey = forbiddenKey(query);
  if (badKey !== undefined) throw new InputError('INVALID_INPUT', `query parameter "${badKey}" is not allowed`, { field: badKey });
  const parsed = jobQuerySchemaFor(query.task).safeParse(query);
  if (!parsed.success) throw firstProblem(QUERY_PROBLEMS, parsed.error, query);
  const { model, metadata, callback_url, expires_after, dedup } = parsed.data;
  const task = resolveTask(parsed.data.task);
  const options = Object.fromEntries(OPTION_NAMES.map((name) => [name, (parsed.data as Fields)[name]]));
  return {
    task,
    model: model || undefined,
    options: withDefaults(task, options),
    metadata: metadata ?? null,
    callbackUrl: callback_url ? checkedUrl(callback_url) : undefined,
    expiresAfter: expires_after,
    dedup,
  };
}

/** The task's options, then truncate, which every task has, with the defaults its job record holds (TaskOption.recorded). */
function withDefaults(task: TaskName, options: Readonly<Fields>): JobOptions {
  // The values passed the options' own API schemas above.
  return recordedOptions(taskModule(task), options) as JobOptions;
}

function checkedUrl(value: string): string {
  const checked = checkCallbackUrl(value);
  if ('error' in checked) throw new Error(`callback_url passed its schema but not checkCallbackUrl: ${checked.error}`);
  return checked.url;
}

/** The first entry of `problems` whose field the schema refused and that says why. */
function firstProblem(problems: ReadonlyArray<readonly [string, Problem]>, error: z.ZodError, fields: Fields): InputError {
  const refused = new Set(error.issues.map((issue) => issue.path[0]));
  for (const [field, problem] of problems) {
    const found = refused.has(field) ? problem(fields) : undefined;
    if (found !== undefined) return found;
  }
  return new InputError('INVALID_INPUT', error.issues[0]?.message ?? 'invalid job parameters', { field: String(error.issues[0]?.path[0] ?? '') });
}

const optionError = (field: string, message: string) => new InputError('INVALID_OPTION', message, { field });

const isOptionName = (name: string): name is OptionName => Object.hasOwn(OPTION_TASKS, name);
const appliesTo = (name: OptionName, task: TaskName): boolean => (OPTION_TASKS[name] ?? task) === task;

/**
 * The first option refused: an unknown name or another task's option (in the order given), then a
 * bad value (truncate first, then the task's own options).
 */
function optionsProblem(task: TaskName, options: Fields, valid: (name: OptionName, value: unknown) => boolean): InputError | undefined {
  for (const name of Object.keys(options)) {
    if (!isOptionName(name)) return optionError(name, `unknown option "${name}"; options are ${OPTION_NAMES.join(', ')}`);
    if (options[name] !== undefined && !appliesTo(name, task)) return optionError(name, `option "${name}" applies to ${OPTION_TASKS[name]} jobs only`);
  }
  const bad = ['truncate', ...OPTION_NAMES.filter((name) => name !== 'truncate')].find((name) => appliesTo(name, task) && !valid(name, options[name]));
  return bad === undefined ? undefined : optionError(bad, (OPTIONS[bad] as { problem: string }).problem);
}

function taskProblem(value: unknown): InputError | undefined {
  try {
    resolveTask(typeof value === 'string' ? value : '');
    return undefined;
  } catch (error) {
    if (!(error instanceof UnknownTaskError)) throw error;
    // resolveTask's message lists the valid names, which a client needs in both cases.
    const message = typeof value === 'string' ? error.message : `field "task" is required (${error.message})`;
    return new InputError('UNKNOWN_TASK', message, { field: 'task' });
  }
}

function metadataProblem(value: unknown): InputError | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return new InputError('INVALID_INPUT', 'field "metadata" must be a JSON object', { field: 'metadata' });
  try {
    // Depth and prototype keys first, without recursion: JSON.stringify below would overflow the stack on deep nesting.
    assertPlainJson(value, 'metadata');
  } catch (error) {
    if (error instanceof InputError) return error;
    throw error;
  }
  const bytes = Buffer.byteLength(JSON.stringify(value), 'utf8');
  if (bytes > MAX_METADATA_BYTES) return new InputError('INVALID_INPUT', `field "metadata" is ${bytes} bytes of JSON; the limit is ${MAX_METADATA_BYTES}`, { field: 'metadata' });
  return undefined;
}

function callbackUrlProblem(value: unknown): InputError {
  if (typeof value !== 'string') return optionError('callback_url', 'field "callback_url" must be a string (an http:// or https:// URL)');
  const checked = checkCallbackUrl(value);
  return optionError('callback_url', `"callback_url" ${'error' in checked ? checked.error : 'is refused'}`);
}

const expiresAfterProblem = () =>
  optionError('expires_after', `field "expires_after" must be a whole number of seconds from 1 to ${MAX_EXPIRES_AFTER} (how long the job and its results are kept once it ends)`);

const dedupProblem = () => optionError('dedup', '"dedup" must be true or false (false computes every text, even repeated ones)');

/** Each body field's refusal, in the order fields are checked: the schema decides what is valid, this table says what is wrong. */
const BODY_PROBLEMS: ReadonlyArray<readonly [string, Problem]> = [
  ['task', (body) => taskProblem(body.task)],
  ['model', () => new InputError('INVALID_MODEL', 'field "model" must be a string', { field: 'model' })],
  [
    'options',
    ({ task, options }) =>
      typeof options !== 'object' || options === null || Array.isArray(options)
        ? optionError('options', 'field "options" must be an object')
        : optionsProblem(resolveTask(task as string), options as Fields, (name, value) => (optionFields[name] as z.ZodType).safeParse(value).success),
  ],
  ['metadata', (body) => metadataProblem(body.metadata)],
  ['callback_url', (body) => callbackUrlProblem(body.callback_url)],
  ['expires_after', expiresAfterProblem],
  ['dedup', dedupProblem],
];

const givenOnce =
  (name: string): Problem =>
  (query) =>
    query[name] === undefined || typeof query[name] === 'string' ? undefined : new InputError('INVALID_INPUT', `query parameter "${name}" must be given once`, { field: name });

const eitherOf =
  (...problems: Problem[]): Problem =>
  (fields) => {
    for (const problem of problems) {
      const found = problem(fields);
      if (found !== undefined) return found;
    }
    return undefined;
  };

const queryOptionsProblem: Problem = (query) => {
  const options: Fields = {};
  for (const name of OPTION_NAMES) if (query[name] !== undefined) options[name] = query[name];
  return optionsProblem(resolveTask(query.task as string), options, (name, value) => (queryFields as Record<string, z.ZodType>)[name]?.safeParse(value).success === true);
};

/**
 * Each query parameter's refusal, in the order they are checked: every parameter but callback_url
 * and expires_after is read (given once, metadata JSON) before the options and the metadata are judged.
 */
const QUERY_PROBLEMS: ReadonlyArray<readonly [string, Problem]> = [
  ['task', eitherOf(givenOnce('task'), (query) => taskProblem(query.task))],
  ['model', givenOnce('model')],
  ...OPTION_NAMES.map((name) => [name, givenOnce(name)] as const),
  [
    'metadata',
    eitherOf(givenOnce('metadata'), ({ metadata }) => {
      try {
        JSON.parse(metadata as string);
        return undefined;
      } catch {
        return new InputError('INVALID_JSON', 'query parameter "metadata" must be a URL-encoded JSON object', { field: 'metadata' });
      }
    }),
  ],
  ...OPTION_NAMES.map((name) => [name, queryOptionsProblem] as const),
  ['metadata', ({ metadata }) => metadataProblem(JSON.parse(metadata as string))],
  ['callback_url', eitherOf(givenOnce('callback_url'), (query) => callbackUrlProblem(query.callback_url))],
  ['expires_after', eitherOf(givenOnce('expires_after'), expiresAfterProblem)],
  ['dedup', eitherOf(givenOnce('dedup'), dedupProblem)],
];
