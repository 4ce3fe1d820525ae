import { Inject, Injectable } from '@nestjs/common';
import { API_ENV, type ApiEnv } from '../../config/api-env.js';
import { paramsFromBody, type JobParams } from '../../ingest/job-params.js';
import { JobSubmissionService } from '../../jobs/job-submission.service.js';
import { ModelCatalogRepository, type ResolvedModel } from '../../models/model-catalog.repository.js';
import { SHARD_PRIORITY } from '../../redis/shard-queue.repository.js';
import { OpenAIError } from '../openai-error.js';
import { ENDPOINTS, type InferenceRequest, type OpenAIEndpoint } from './openai-request.js';
import { requestError, responseBody, type InferenceResponseBody } from './openai-response.js';
import { ShardFailedError, WaitTimeoutError } from './shard-waiter.service.js';
import { SYNC_RETENTION_SECONDS, SyncJobsService, type FinishedSyncJob } from './sync-jobs.service.js';

/** Total UTF-8 bytes of text one synchronous request may carry (larger work goes through /v1/batches or /v1/jobs). */
export const MAX_SYNC_TEXT_BYTES = 4 * 1024 * 1024;

/** The job parameters of a request: the same validation as POST /v1/jobs, plus per-item token counts for `usage`. */
export function jobParams(
  endpoint: OpenAIEndpoint,
  request: Pick<InferenceRequest, 'model' | 'truncate' | 'topK' | 'functionToApply' | 'dimensions'>,
  metadata: Record<string, unknown> | null,
): JobParams {
  const options: Record<string, unknown> = {};
  if (request.truncate !== undefined) options.truncate = request.truncate;
  if (request.topK !== undefined) options.top_k = request.topK;
  if (request.functionToApply != null) options.function_to_apply = request.functionToApply;
  if (request.dimensions !== null) options.dimensions = request.dimensions;
  const params = paramsFromBody({ task: ENDPOINTS[endpoint], model: request.model, options, metadata });
  return { ...params, options: { ...params.options, itemTokens: true } };
}

/**
 * POST /v1/embeddings and /v1/classifications: a small job whose shards run ahead of the batch
 * backlog (SHARD_PRIORITY.interactive), awaited through QueueEvents. The API runs no inference:
 * workers do, as for every job. After SYNC_TIMEOUT_MS the job is cancelled and the answer is 504.
 */
@Injectable()
export class SyncInferenceService {
  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly submission: JobSubmissionService,
    private readonly catalog: ModelCatalogRepository,
    private readonly syncJobs: SyncJobsService,
  ) {}

  async run(endpoint: OpenAIEndpoint, request: InferenceRequest, tenant: string): Promise<InferenceResponseBody> {
    this.checkSize(request.inputs);
    // Deleted once answered; should this API die first, retention removes the job within the hour.
    const params = { ...jobParams(endpoint, request, null), expiresAfter: SYNC_RETENTION_SECONDS };
    const model = await this.catalog.resolveModel(params.model, params.task);
    checkDimensions(request, model.info);

    const job = await this.submission.submitTexts(params, request.inputs, SHARD_PRIORITY.interactive, tenant, model);
    let done: FinishedSyncJob;
    try {
      done = await this.syncJobs.await(job, tenant);
    } catch (error) {
      if (error instanceof WaitTimeoutError) {
        throw new OpenAIError(
          504,
          `the request did not finish within ${this.env.SYNC_TIMEOUT_MS} ms (SYNC_TIMEOUT_MS); it was cancelled. Workers may be busy or down; for large inputs use /v1/batches`,
          null,
          'timeout',
        );
      }
      if (error instanceof ShardFailedError) throw new OpenAIError(500, `inference failed: ${error.message}`, null, 'inference_failed');
      throw error;
    }
    const response = this.answer(endpoint, request, done);
    await this.syncJobs.discard(job);
    return response;
  }

  private answer(endpoint: OpenAIEndpoint, request: InferenceRequest, { finished, lines }: FinishedSyncJob): InferenceResponseBody {
    if (finished.state === 'cancelled') throw new OpenAIError(409, `the request's job ${finished.id} was cancelled`, null, 'cancelled');
    const complete = lines.length === request.inputs.length && lines.every((line) => line !== undefined && !line.error);
    if (!complete) {
      const several = request.inputs.length > 1;
      const error = requestError(
        Array.from({ length: request.inputs.length }, (_, i) => lines[i]),
        several,
        {
          code: 'result_missing',
          message: 'a result is missing from the result store',
        },
      );
      const server = error.code !== 'text_too_long';
      const message = error.code === 'text_too_long' ? `${error.message} (send "truncate": true, the default, to cut over-long inputs instead)` : error.message;
      throw new OpenAIError(server ? 500 : 400, message, server ? null : 'input', error.code);
    }
    return responseBody(endpoint, finished.modelId, lines, request.encodingFormat);
  }

  private checkSize(inputs: readonly string[]): void {
    let bytes = 0;
    for (let i = 0; i < inputs.length; i++) {
      const size = Buffer.byteLength(inputs[i] as string, 'utf8');
      if (size > this.env.MAX_LINE_BYTES) {
        throw new OpenAIError(400, `input[${i}] is ${size} bytes; one input may have at most ${this.env.MAX_LINE_BYTES} (MAX_LINE_BYTES)`, 'input', 'input_too_large');
      }
      bytes += size;
    }
    if (bytes > MAX_SYNC_TEXT_BYTES) {
      throw new OpenAIError(
        400,
        `the inputs hold ${bytes} bytes of text; a synchronous request may hold ${MAX_SYNC_TEXT_BYTES}. Use /v1/batches for more`,
        'input',
        'input_too_large',
      );
    }
  }
}

/** OpenAI's `dimensions` shortens embeddings (Matryoshka) down from the model's width, never beyond it. */
function checkDimensions(request: InferenceRequest, info: ResolvedModel['info']): void {
  if (request.dimensions === null || info === null || request.dimensions <= info.dimensions) return;
  throw new OpenAIError(
    400,
    `"dimensions" is ${request.dimensions}, but model "${request.model}" makes embeddings of ${info.dimensions} values; ask for at most ${info.dimensions}`,
    'dimensions',
    'invalid_option',
  );
}
