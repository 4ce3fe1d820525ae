import type { ClassificationFunction } from '#models';
import type { JobRecord, JobState } from './job-record.js';

/** The public shape of a job (snake_case, ISO timestamps); the Redis record stays internal. */
export interface JobView {
  id: string;
  object: 'job';
  task: JobRecord['task'];
  model: string;
  state: JobState;
  /** `aggregation_strategy` and `ignore_labels` only for token-classification jobs, `raw_scores` and `return_text` only for rerank jobs. */
  options: {
    pooling: 'mean' | 'cls' | null;
    normalize: boolean | null;
    top_k: number | null;
    function_to_apply: ClassificationFunction | null;
    dimensions: number | null;
    prompt: string | null;
    prompt_name: string | null;
    truncate: boolean | null;
    raw_scores?: boolean;
    return_text?: boolean;
    aggregation_strategy?: string;
    ignore_labels?: readonly string[];
  };
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
    options: {
      pooling: job.options.pooling ?? null,
      normalize: job.options.normalize ?? null,
      top_k: job.options.topK ?? null,
      function_to_apply: job.options.functionToApply ?? null,
      dimensions: job.options.dimensions ?? null,
      prompt: job.options.prompt ?? null,
      prompt_name: job.options.promptName ?? null,
      truncate: job.options.truncate ?? null,
      ...(job.options.rawScores !== undefined ? { raw_scores: job.options.rawScores } : {}),
      ...(job.options.returnText !== undefined ? { return_text: job.options.returnText } : {}),
      ...(job.options.aggregationStrategy !== undefined ? { aggregation_strategy: job.options.aggregationStrategy } : {}),
      ...(job.options.ignoreLabels !== undefined ? { ignore_labels: job.options.ignoreLabels } : {}),
    },
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
