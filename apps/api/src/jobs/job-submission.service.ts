import { Inject, Injectable, Logger } from '@nestjs/common';
import { InputError, JobStore, type JobRecord } from '../../../../libs/shared/src/index.js';
import { AdmissionService } from '../auth/admission.service.js';
import type { ApiKeyRegistry } from '../auth/api-keys.js';
import { API_KEYS } from '../auth/auth.tokens.js';
import { tenantOf } from '../auth/tenant.js';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { ApiError } from '../http/api-error.js';
import type { ApiRequest } from '../http/request.types.js';
import { parseNdjsonItem, toInputItem } from '../ingest/input-item.js';
import { paramsFromBody, paramsFromQuery, type JobParams } from '../ingest/job-params.js';
import { readNdjsonLines } from '../ingest/ndjson-line-reader.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { ModelCatalogRepository } from '../models/model-catalog.repository.js';
import { newJobId } from './job-id.js';
import { JobCommitService, type AcceptedJob } from './job-commit.service.js';
import { JobIngest, type OriginStyle } from './job-ingest.js';
import { bodyKind } from './media-type.js';

/**
 * Accepts a job whole or not at all: inputs are validated and staged shard by shard while the body
 * is read, and only a fully valid upload creates the job record and enqueues its shards.
 */
@Injectable()
export class JobSubmissionService {
  private readonly logger = new Logger(JobSubmissionService.name);

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly jobs: JobStore,
    private readonly committer: JobCommitService,
    private readonly catalog: ModelCatalogRepository,
    private readonly metrics: MetricsService,
    private readonly admission: AdmissionService,
    @Inject(API_KEYS) private readonly keys: ApiKeyRegistry,
  ) {}

  async submit(req: ApiRequest): Promise<JobRecord> {
    const kind = bodyKind(req.headers['content-type']);
    if (kind === 'json') return this.submitJson(req.body, tenantOf(req));
    if (kind === 'ndjson') return this.submitNdjson(req, tenantOf(req));
    throw new InputError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')} is not accepted; send application/json, or application/x-ndjson (application/jsonl) for large jobs`,
    );
  }

  /**
   * The seam for other front ends (the OpenAI-compatible batch and embeddings routes): the same
   * model resolution, staging, sharding, duplicate-id checks and all-or-nothing commit as
   * POST /v1/jobs, for items the caller reads from elsewhere and adds with `ingest.add(item, origin)`.
   * `priority` is the BullMQ priority of the shards (SHARD_PRIORITY; batch when absent).
   */
  async submitItems(params: JobParams, style: OriginStyle, feed: (ingest: JobIngest) => Promise<void>, priority?: number, tenant?: string): Promise<JobRecord> {
    // tenant: tenantOf(req). Optional only so callers written before auth keep working while it is off.
    return this.run({ ...(await this.prepare(params, this.keys.tenantArg(tenant))), priority }, style, feed);
  }

  private async submitJson(body: unknown, tenant: string): Promise<JobRecord> {
    if (body === undefined) throw new InputError('INVALID_JSON', 'the request body is empty; send a JSON object');
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new InputError('INVALID_INPUT', 'the request body must be a JSON object with "task" and "inputs"');
    }
    const request = body as Record<string, unknown>;
    const job = await this.prepare(paramsFromBody(request), tenant);
    const inputs = request.inputs;
    if (!Array.isArray(inputs)) throw new InputError('INVALID_INPUT', 'field "inputs" must be an array', { field: 'inputs' });
    if (inputs.length > this.env.MAX_INPUTS_PER_JOB) {
      throw new InputError('TOO_MANY_INPUTS', `${inputs.length} inputs; at most ${this.env.MAX_INPUTS_PER_JOB} per job (MAX_INPUTS_PER_JOB)`, { field: 'inputs' });
    }
    return this.run(job, 'index', async (ingest) => {
      for (let index = 0; index < inputs.length; index++) {
        await ingest.add(toInputItem(inputs[index], index, { kind: 'index', index }), index);
      }
    });
  }

  private async submitNdjson(req: ApiRequest, tenant: string): Promise<JobRecord> {
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity') {
      throw new InputError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding "${encoding}" is not supported for NDJSON uploads; send the body uncompressed`);
    }
    // Parameters are checked before a byte of the body is read.
    const job = await this.prepare(paramsFromQuery(req.query), tenant);
    return this.run(
      job,
      'line',
      async (ingest) => {
        // destroyOnReturn: false keeps the socket when input is refused halfway, so the error still reaches the client.
        const body = req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
        for await (const { line, text } of readNdjsonLines(body, this.env.MAX_LINE_BYTES)) {
          await ingest.add(parseNdjsonItem(text, line, ingest.count), line);
        }
        if (!req.complete) throw clientGone();
      },
      req,
    );
  }

  private async prepare(params: JobParams, tenant: string): Promise<AcceptedJob> {
    const modelId = this.catalog.resolve(params.model, params.task);
    const info = await this.catalog.info(modelId);
    if (info && !info.tasks.includes(params.task)) {
      throw new InputError('INVALID_MODEL', `model "${modelId}" cannot serve task "${params.task}"; it serves: ${info.tasks.join(', ')}`, { field: 'model' });
    }
    return {
      jobId: newJobId(),
      tenant,
      task: params.task,
      modelId,
      options: params.options,
      metadata: params.metadata,
      callbackUrl: params.callbackUrl,
      // Known up front only for local models; Hub models report their width to workers alone.
      dimensions: params.task === 'embed' ? (info?.dimensions ?? null) : null,
      maxTokens: info?.maxTokens ?? null,
    };
  }

  private async run(job: AcceptedJob, style: OriginStyle, feed: (ingest: JobIngest) => Promise<void>, req?: ApiRequest): Promise<JobRecord> {
    // Admission first (429 TOO_MANY_JOBS / BACKLOG_FULL): nothing is read or staged for a job that would be refused.
    await this.admission.precheck(job.tenant);
    const limits = {
      maxTexts: this.env.SHARD_MAX_TEXTS,
      maxBytes: this.env.SHARD_MAX_BYTES,
      maxInputs: this.env.MAX_INPUTS_PER_JOB,
      maxBacklogBytes: this.admission.limitsOf(job.tenant).maxBacklogBytes,
    };
    const ingest = new JobIngest(job, limits, style, this.jobs);
    const started = Date.now();
    try {
      try {
        await feed(ingest);
      } catch (error) {
        // A failed shard write concerns earlier input than what was being read: report that one.
        throw (await ingest.settle()) ?? error;
      }
      const totals = await ingest.finish();
      const read = Date.now();
      const record = await this.committer.commit(job, totals);
      this.metrics.jobsSubmitted.inc({ task: job.task });
      this.metrics.textsSubmitted.inc({ task: job.task }, totals.total);
      this.metrics.shardsEnqueued.inc({ task: job.task }, totals.shards);
      this.logger.log(
        `job ${job.jobId} accepted: ${job.task} with ${job.modelId}, ${totals.total} inputs in ${totals.shards} shards ` +
          `(read ${read - started} ms, enqueued ${Date.now() - read} ms)`,
      );
      return record;
    } catch (error) {
      if (req && !req.complete && !(error instanceof InputError) && (req.destroyed || req.readableAborted)) throw clientGone();
      throw error;
    } finally {
      await ingest.settle();
      // Staged copies are no longer needed either way: enqueued on success, refused otherwise.
      await this.jobs.dropStaging(job.jobId, ingest.stagingExtent).catch((error: unknown) => {
        this.logger.warn(`could not drop staging of ${job.jobId} (it expires on its own): ${(error as Error).message}`);
      });
    }
  }
}

function clientGone(): ApiError {
  return new ApiError('CLIENT_CLOSED_REQUEST', 'the client closed the connection before the upload ended; nothing was enqueued', 499);
}
