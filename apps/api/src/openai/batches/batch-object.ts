import type { BatchLineError, BatchRecord, BatchStatus } from '../openai-records.repository.js';

/** OpenAI's batch object (timestamps in unix seconds), plus `job_id`: the shardwise job that runs it. */
export interface BatchObject {
  id: string;
  object: 'batch';
  endpoint: string;
  model: string | null;
  errors: { object: 'list'; data: BatchLineError[] } | null;
  input_file_id: string;
  completion_window: string;
  status: BatchStatus;
  output_file_id: string | null;
  error_file_id: string | null;
  created_at: number;
  in_progress_at: number | null;
  expires_at: number;
  finalizing_at: number | null;
  completed_at: number | null;
  failed_at: number | null;
  expired_at: number | null;
  cancelling_at: number | null;
  cancelled_at: number | null;
  request_counts: { total: number; completed: number; failed: number };
  usage: BatchUsage;
  metadata: Record<string, string> | null;
  job_id: string | null;
}

/**
 * OpenAI's `usage` of a batch (openai SDK `BatchUsage`): the tokens of the texts that succeeded, as
 * the model ran them (after truncation), also billed in GET /v1/usage. Encoders produce no tokens,
 * so output and total follow from the input; nothing is cached.
 */
export interface BatchUsage {
  input_tokens: number;
  input_tokens_details: { cached_tokens: number };
  output_tokens: number;
  output_tokens_details: { reasoning_tokens: number };
  total_tokens: number;
}

/** What the batch's job says now, for a batch not yet finalized. */
export interface LiveState {
  status: BatchStatus;
  completed: number;
  failed: number;
  inputTokens: number;
  finalizingAt: number | null;
  cancellingAt: number | null;
}

export function toBatchObject(batch: BatchRecord, live: LiveState | null): BatchObject {
  return {
    id: batch.id,
    object: 'batch',
    endpoint: batch.endpoint,
    model: batch.model,
    errors: batch.errors && batch.errors.length > 0 ? { object: 'list', data: batch.errors } : null,
    input_file_id: batch.inputFileId,
    completion_window: batch.completionWindow,
    status: live?.status ?? batch.finalStatus ?? 'validating',
    output_file_id: batch.outputFileId,
    error_file_id: batch.errorFileId,
    created_at: batch.createdAt,
    in_progress_at: batch.inProgressAt,
    expires_at: batch.expiresAt,
    finalizing_at: live?.finalizingAt ?? batch.finalizingAt,
    completed_at: batch.completedAt,
    failed_at: batch.failedAt,
    // Set while an expiry is being finalized too; shown once the batch is expired.
    expired_at: batch.finalStatus === 'expired' ? batch.expiredAt : null,
    cancelling_at: live?.cancellingAt ?? batch.cancellingAt,
    cancelled_at: batch.cancelledAt,
    request_counts: { total: batch.requestTotal, completed: live?.completed ?? batch.completed, failed: live?.failed ?? batch.failed },
    usage: batchUsage(live?.inputTokens ?? batch.inputTokens ?? 0),
    metadata: batch.metadata,
    job_id: batch.jobId,
  };
}

function batchUsage(inputTokens: number): BatchUsage {
  return { input_tokens: inputTokens, input_tokens_details: { cached_tokens: 0 }, output_tokens: 0, output_tokens_details: { reasoning_tokens: 0 }, total_tokens: inputTokens };
}
