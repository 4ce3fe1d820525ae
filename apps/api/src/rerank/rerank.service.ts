import { Inject, Injectable } from '@nestjs/common';
import { type ResultLine } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { ApiError } from '../http/api-error.js';
import { paramsFromBody } from '../ingest/job-params.js';
import { JobSubmissionService } from '../jobs/job-submission.service.js';
import { ModelCatalogRepository } from '../models/model-catalog.repository.js';
import { ShardFailedError, WaitTimeoutError } from '../openai/inference/shard-waiter.service.js';
import { SYNC_RETENTION_SECONDS, SyncJobsService } from '../openai/inference/sync-jobs.service.js';
import { SHARD_PRIORITY } from '../redis/shard-queue.repository.js';
import type { RerankRequest } from './rerank-request.js';

/** TEI's answer: the texts by relevance, highest first. */
export type RerankResponse = NonNullable<ResultLine['ranking']>;

/**
 * POST /v1/rerank: a one-item rerank job (the query and its texts) whose shard runs ahead of the
 * batch backlog, awaited like /v1/embeddings; the workers score the pairs, the API answers with the
 * item's ranking and deletes the job.
 */
@Injectable()
export class RerankService {
  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly submission: JobSubmissionService,
    private readonly catalog: ModelCatalogRepository,
    private readonly syncJobs: SyncJobsService,
  ) {}

  async rerank(request: RerankRequest, tenant: string): Promise<RerankResponse> {
    const options: Record<string, unknown> = {};
    if (request.raw_scores !== undefined) options.raw_scores = request.raw_scores;
    if (request.return_text !== undefined) options.return_text = request.return_text;
    if (request.truncate !== undefined) options.truncate = request.truncate;
    const params = { ...paramsFromBody({ task: 'rerank', model: request.model, options, metadata: null }), expiresAfter: SYNC_RETENTION_SECONDS };
    const model = await this.catalog.resolveModel(params.model, params.task);
    const job = await this.submission.submitItems(params, [{ id: '0', text: request.query, documents: request.texts }], SHARD_PRIORITY.interactive, tenant, model);
    try {
      const line = (await this.syncJobs.await(job, tenant)).lines[0];
      if (line?.ranking) return line.ranking;
      if (line?.error?.code === 'TEXT_TOO_LONG')
        throw new ApiError('TEXT_TOO_LONG', `${line.error.message} (send "truncate": true, the default, to cut over-long pairs)`, 400, { field: 'texts' });
      throw new ApiError('INFERENCE_FAILED', `inference failed: ${line?.error?.message ?? 'no result'}`, 500);
    } catch (error) {
      if (error instanceof WaitTimeoutError) {
        throw new ApiError(
          'TIMEOUT',
          `the request did not finish within ${this.env.SYNC_TIMEOUT_MS} ms (SYNC_TIMEOUT_MS) and was cancelled; for many queries submit a rerank job`,
          504,
        );
      }
      if (error instanceof ShardFailedError) throw new ApiError('INFERENCE_FAILED', `inference failed: ${error.message}`, 500);
      throw error;
    } finally {
      // A synchronous request leaves nothing behind (retention removes what a crash leaves).
      await this.syncJobs.discard(job);
    }
  }
}
