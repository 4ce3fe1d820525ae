import type { EncodeOptions, TaskName } from '#models';

export type JobState = 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
export const TERMINAL_STATES: readonly JobState[] = ['completed', 'failed', 'cancelled'];

/** A job's options: the task options every encode request takes (EncodeOptions, documented there), plus what only jobs have. */
export type JobOptions = EncodeOptions & {
  /** Write each item's token count into its result line as `tokens` (set by the OpenAI-compatible routes, for `usage`). */
  itemTokens?: boolean;
};

/** The job as stored in Redis (one hash); counters only ever move through JobStore's atomic updates. */
export interface JobRecord {
  id: string;
  tenant: string;
  task: TaskName;
  modelId: string;
  options: JobOptions;
  metadata: Record<string, unknown> | null;
  state: JobState;
  total: number;
  succeeded: number;
  failed: number;
  truncated: number;
  tokens: number;
  /** Items whose result was copied from an identical text's instead of computed (dedup); absent in older records. */
  deduplicated?: number;
  /** Tokens of the texts that succeeded, as billed in the usage ledger (0 in records older than the field). */
  usageTokens?: number;
  shardsTotal: number;
  shardsDone: number;
  shardsFailed: number;
  /** Embedding width, known at submit time so binary results can be read without the model. */
  dimensions: number | null;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  error: string | null;
  /** Webhook target called once when the job reaches a terminal state (absent in records older than the field). */
  callbackUrl?: string | null;
  /** Object-store key of the job's input (`jobs/<id>/input.ndjson`, `files/<fileId>`, or a user's path). */
  inputKey?: string | null;
  /** Retention: seconds the job and its results are kept after it ends (absent in records older than the field). */
  expiresAfter?: number | null;
  /** When it expires (ms), set in the step that ends the job; null while it runs. */
  expiresAt?: number | null;
}

const NUMBER_FIELDS = ['total', 'succeeded', 'failed', 'truncated', 'tokens', 'shardsTotal', 'shardsDone', 'shardsFailed', 'createdAt'] as const;

export function toHash(record: JobRecord): Record<string, string> {
  const hash: Record<string, string> = {
    id: record.id,
    tenant: record.tenant,
    task: record.task,
    modelId: record.modelId,
    options: JSON.stringify(record.options),
    metadata: JSON.stringify(record.metadata),
    state: record.state,
  };
  for (const field of NUMBER_FIELDS) hash[field] = String(record[field]);
  if (record.dimensions !== null) hash.dimensions = String(record.dimensions);
  if (record.startedAt !== null) hash.startedAt = String(record.startedAt);
  if (record.finishedAt !== null) hash.finishedAt = String(record.finishedAt);
  if (record.error !== null) hash.error = record.error;
  if (record.callbackUrl) hash.callbackUrl = record.callbackUrl;
  if (record.inputKey) hash.inputKey = record.inputKey;
  if (record.expiresAfter != null) hash.expiresAfter = String(record.expiresAfter);
  if (record.expiresAt != null) hash.expiresAt = String(record.expiresAt);
  if (record.deduplicated) hash.deduplicated = String(record.deduplicated);
  return hash;
}

export function fromHash(hash: Record<string, string>): JobRecord | null {
  if (!hash.id) return null;
  const num = (v: string | undefined): number | null => (v === undefined ? null : Number(v));
  return {
    id: hash.id,
    tenant: hash.tenant ?? 'default',
    task: hash.task as JobRecord['task'],
    modelId: hash.modelId,
    options: JSON.parse(hash.options ?? '{}') as JobOptions,
    metadata: JSON.parse(hash.metadata ?? 'null') as Record<string, unknown> | null,
    state: hash.state as JobState,
    total: Number(hash.total ?? 0),
    succeeded: Number(hash.succeeded ?? 0),
    failed: Number(hash.failed ?? 0),
    truncated: Number(hash.truncated ?? 0),
    tokens: Number(hash.tokens ?? 0),
    deduplicated: Number(hash.deduplicated ?? 0),
    usageTokens: Number(hash.usageTokens ?? 0),
    shardsTotal: Number(hash.shardsTotal ?? 0),
    shardsDone: Number(hash.shardsDone ?? 0),
    shardsFailed: Number(hash.shardsFailed ?? 0),
    dimensions: num(hash.dimensions),
    createdAt: Number(hash.createdAt),
    startedAt: num(hash.startedAt),
    finishedAt: num(hash.finishedAt),
    error: hash.error ?? null,
    callbackUrl: hash.callbackUrl ?? null,
    inputKey: hash.inputKey ?? null,
    expiresAfter: num(hash.expiresAfter),
    expiresAt: num(hash.expiresAt),
  };
}
