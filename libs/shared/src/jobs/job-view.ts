import { TASK_OPTIONS, type ApiOptionValues, type ListedOption, type TASK_MODULES } from '#models';
import type { JobRecord, JobState } from './job-record.js';

/** The public shape of a job (snake_case, ISO timestamps); the Redis record stays internal. */
export interface JobView {
  id: string;
  object: 'job';
  task: JobRecord['task'];
  model: string;
  state: JobState;
  options: JobViewOptions;
  metadata: Record<string, unknown> | null;
  /** `deduplicated`: items whose result was copied from an identical text in the same job rather than computed (dedup). */
  counts: { total: number; succeeded: number; failed: number; deduplicated: number };
  shards: { total: number; done: number; failed: number };
  tokens_processed: number;
  truncated: number;
  dimensions: number | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  throughput: { texts_per_second: number | null; tokens_per_second: number | null };
  error: string | null;
  /** Webhook target called when the job finishes, fails or is cancelled. */
  callback_url: string | null;
  /** Seconds the job and its results are kept once it ends (retention). */
  expires_after: number | null;
  /** When the job and its results will be deleted; null until the job ends. */
  expires_at: string | null;
  links: { self: string; results: string; errors: string; cancel: string; events: string };
}

/**
 * The options every job view has shown since the first release, null when the job record lacks
 * them: clients read them. Every other option (rerank's, token-classification's, any later task's)
 * is shown only when the job's record holds it, so in practice only in its own task's jobs.
 */
export const ALWAYS_SHOWN_OPTIONS = Object.freeze([
  'pooling',
  'normalize',
  'top_k',
  'function_to_apply',
  'dimensions',
  'prompt',
  'prompt_name',
  'truncate',
] as const satisfies readonly (keyof OptionValues)[]);

type OptionValues = ApiOptionValues<typeof TASK_MODULES>;
type AlwaysShown = (typeof ALWAYS_SHOWN_OPTIONS)[number];

/** A job's options by API name (ALWAYS_SHOWN_OPTIONS, then the others its record holds), from the task modules. */
export type JobViewOptions = { [Name in AlwaysShown]: OptionValues[Name] | null } & { [Name in Exclude<keyof OptionValues, AlwaysShown>]?: OptionValues[Name] };

/**
 * A job record's options by their API names, as ALWAYS_SHOWN_OPTIONS says; `listed` is the registry's
 * options (a test passes a longer list). Throws when an always-shown option is not listed.
 */
export function jobViewOptions(options: Readonly<Record<string, unknown>>, listed: readonly ListedOption[] = TASK_OPTIONS): Record<string, unknown> {
  const view: Record<string, unknown> = {};
  for (const name of ALWAYS_SHOWN_OPTIONS) {
    const entry = listed.find((candidate) => candidate.name === name);
    if (entry === undefined) throw new Error(`job views show option "${name}", which no task declares`);
    view[name] = options[entry.option.field] ?? null;
  }
  for (const { name, option } of listed) {
    if (!(ALWAYS_SHOWN_OPTIONS as readonly string[]).includes(name) && options[option.field] !== undefined) view[name] = options[option.field];
  }
  return view;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const round = (n: number): number => Math.round(n * 100) / 100;

export function toJobView(job: JobRecord, now = Date.now()): JobView {
  const self = `/v1/jobs/${job.id}`;
  // Rates cover the time workers spent on the job (started → finished, or now while it runs).
  const seconds = job.startedAt === null ? null : Math.max((job.finishedAt ?? now) - job.startedAt, 1) / 1000;
  return {
    id: job.id,
    object: 'job',
    task: job.task,
    model: job.modelId,
    state: job.state,
    // The record's values passed the options' schemas when the job was submitted.
    options: jobViewOptions(job.options) as JobViewOptions,
    metadata: job.metadata,
    counts: { total: job.total, succeeded: job.succeeded, failed: job.failed, deduplicated: job.deduplicated ?? 0 },
    shards: { total: job.shardsTotal, done: job.shardsDone, failed: job.shardsFailed },
    tokens_processed: job.tokens,
    truncated: job.truncated,
    dimensions: job.dimensions,
    created_at: iso(job.createdAt) as string,
    started_at: iso(job.startedAt),
    finished_at: iso(job.finishedAt),
    throughput: {
      texts_per_second: seconds === null ? null : round((job.succeeded + job.failed) / seconds),
      tokens_per_second: seconds === null ? null : round(job.tokens / seconds),
    },
    error: job.error,
    callback_url: job.callbackUrl ?? null,
    expires_after: job.expiresAfter ?? null,
    expires_at: iso(job.expiresAt ?? null),
    links: { self, results: `${self}/results`, errors: `${self}/errors`, cancel: `${self}/cancel`, events: `${self}/events` },
  };
}
