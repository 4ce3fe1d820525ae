import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { fileKey, InputError, itemId, JobStore, NotReplicatedError, OBJECT_STORE, readNdjsonLines, ReplicaAck, type JobRecord, type ObjectStore } from '#shared';
import { API_ENV, type ApiEnv } from '../../config/api-env.js';
import { ApiError } from '../../http/api-error.js';
import type { StoredInput } from '../../ingest/input-sources.js';
import { RETRY_AFTER_NOT_REPLICATED } from '../../jobs/job-commit.service.js';
import { JobSubmissionService } from '../../jobs/job-submission.service.js';
import { JobsService } from '../../jobs/jobs.service.js';
import { ModelCatalogRepository, type ResolvedModel } from '../../models/model-catalog.repository.js';
import { unixSeconds } from '../http-params.js';
import { FileCatalog } from '../../storage/file-catalog.repository.js';
import { StoreJanitorService } from '../../storage/store-janitor.service.js';
import { isBatchId, newBatchId } from './batch-id.js';
import { FilesService } from '../files/files.service.js';
import { parseBatchLine, type BatchLine, type OpenAIEndpoint } from '../inference/openai-request.js';
import { jobParams } from '../inference/sync-inference.service.js';
import { notFound, OpenAIError } from '../openai-error.js';
import { OpenAIRecordsRepository, type BatchLineError, type BatchRecord, type PageQuery } from '../openai-records.repository.js';
import { BatchFinalizerService } from './batch-finalizer.service.js';
import type { CreateRequest } from './batch-request.js';
import { toBatchObject, type BatchObject, type LiveState } from './batch-object.js';

const COMPLETION_WINDOW_SECONDS = 24 * 3600;
/** A batch read right after its job finished waits this long for its files, to answer `completed` at once. */
const FINALIZE_WAIT_MS = 2000;
/** A batch still validating after this long lost the replica that validated it. */
const VALIDATION_ABANDONED_SECONDS = 3600;

/**
 * The Batch API over shardwise jobs. Creating a batch reads its input file through the same
 * ingest path as POST /v1/jobs (line reader, sharding, duplicate ids, all-or-nothing commit): a
 * file with a bad line creates no job, and the batch is `failed` with errors naming the line, as
 * OpenAI reports them. A valid file becomes one job (one model, one set of options) whose items
 * are the requests' inputs in order, and whose shards read the uploaded file itself (no copy);
 * the file stays pinned until the batch is finalized. The batch's status follows the job's state.
 */
@Injectable()
export class BatchesService implements OnModuleInit {
  private readonly logger = new Logger(BatchesService.name);

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly submission: JobSubmissionService,
    private readonly jobsService: JobsService,
    private readonly jobStore: JobStore,
    private readonly catalog: ModelCatalogRepository,
    private readonly files: FilesService,
    private readonly fileCatalog: FileCatalog,
    @Inject(OBJECT_STORE) private readonly objects: ObjectStore,
    private readonly records: OpenAIRecordsRepository,
    private readonly finalizer: BatchFinalizerService,
    private readonly janitor: StoreJanitorService,
    private readonly replicas: ReplicaAck,
  ) {}

  onModuleInit(): void {
    // A batch needs its input file until it is finalized (the finalizer reads it beside the results).
    this.fileCatalog.registerUserCheck('batch', (id) => this.records.isSettled(id));
    // Retention: a batch record goes RETENTION_SECONDS after it ended; its job and files expire on their own.
    this.janitor.registerSweep('expired batches', (now) => this.records.deleteExpiredBatches(Math.floor(now / 1000)));
  }

  async create(tenant: string, request: CreateRequest): Promise<BatchObject> {
    const file = await this.files.get(request.inputFileId, tenant);
    if (file.purpose !== 'batch')
      throw new OpenAIError(400, `file ${file.id} has purpose "${file.purpose}"; a batch needs a file uploaded with purpose "batch"`, 'input_file_id', 'invalid_file');
    const now = unixSeconds();
    const batch: BatchRecord = {
      id: newBatchId(),
      tenant,
      endpoint: request.endpoint,
      inputFileId: file.id,
      outputExpiresAfter: request.outputExpiresAfter,
      completionWindow: '24h',
      metadata: request.metadata,
      jobId: null,
      model: null,
      requestTotal: 0,
      itemTotal: 0,
      finalStatus: null,
      errors: null,
      outputFileId: null,
      errorFileId: null,
      completed: 0,
      failed: 0,
      createdAt: now,
      inProgressAt: null,
      expiresAt: now + COMPLETION_WINDOW_SECONDS,
      finalizingAt: null,
      completedAt: null,
      failedAt: null,
      expiredAt: null,
      cancellingAt: null,
      cancelledAt: null,
    };
    await this.records.createBatch(batch);
    let update: Partial<BatchRecord> | undefined;
    const unpin = () => this.fileCatalog.unpin(file.id, `batch:${batch.id}`).catch(() => undefined);
    try {
      if ((await this.fileCatalog.pin(file.id, tenant, `batch:${batch.id}`)) === null) throw notFound('File object', file.id);
      const info = await this.objects.stat(fileKey(file.id));
      if (info === null) throw new OpenAIError(404, `the content of ${file.id} is gone from the file store`, 'input_file_id', 'not_found');
      // The link goes in before the job's replica acknowledgement, which then covers the whole batch.
      const link = async (job: JobRecord, requests: number) => {
        update = { jobId: job.id, model: job.modelId, requestTotal: requests, itemTotal: job.total, inProgressAt: unixSeconds() };
        await this.records.updateBatch(batch.id, update);
      };
      const { job, requests } = await this.ingest(batch.id, request.endpoint, tenant, { key: info.key, version: info.version, format: 'openai-batch' }, link);
      this.logger.log(`batch ${batch.id}: ${requests} requests from ${file.id} -> job ${job.id}`);
    } catch (error) {
      if (error instanceof ApiError && error.code === 'REDIS_NOT_REPLICATED') {
        // The job was removed again (JobCommitService); the client retries, so the batch goes too.
        await this.forget(batch, unpin);
        throw batchNotReplicated(error.message);
      }
      if (!(error instanceof InputError)) {
        await this.records.updateBatch(batch.id, {
          finalStatus: 'failed',
          failedAt: unixSeconds(),
          errors: [{ code: 'internal', message: 'validation failed on the server; try again', param: null, line: null }],
        });
        await unpin();
        throw error;
      }
      update = { finalStatus: 'failed', failedAt: unixSeconds(), errors: [toLineError(error)] };
      await unpin();
      await this.records.updateBatch(batch.id, update);
      await this.records.expireBatchAt(batch.id, unixSeconds() + this.env.RETENTION_SECONDS);
      // A failed batch is an answer too: a failover must not lose it.
      try {
        await this.replicas.confirm();
      } catch (notConfirmed) {
        if (!(notConfirmed instanceof NotReplicatedError)) throw notConfirmed;
        await this.forget(batch, unpin);
        throw batchNotReplicated(`Redis could not make the batch durable: ${notConfirmed.message}`);
      }
    }
    return this.view({ ...batch, ...update });
  }

  /** A batch refused with 503: its record goes, so the client's retry is the only one it sees. */
  private async forget(batch: BatchRecord, unpin: () => Promise<unknown>): Promise<void> {
    await unpin();
    await this.records.deleteBatch(batch.id, batch.tenant).catch((error: unknown) => {
      this.logger.warn(`could not delete the record of refused batch ${batch.id}: ${(error as Error).message}`);
    });
  }

  async get(tenant: string, id: string): Promise<BatchObject> {
    return this.view(await this.load(tenant, id));
  }

  async list(tenant: string, page: PageQuery): Promise<{ data: BatchObject[]; hasMore: boolean }> {
    const { items, hasMore } = await this.records.listBatches(tenant, page);
    const data: BatchObject[] = [];
    for (const batch of items) data.push(await this.view(batch, 0));
    return { data, hasMore };
  }

  /** OpenAI's cancel: `cancelling` at once, `cancelled` once the partial results are in the output file. */
  async cancel(tenant: string, id: string): Promise<BatchObject> {
    const batch = await this.load(tenant, id);
    if (batch.finalStatus === 'cancelled') return this.view(batch);
    if (batch.finalStatus !== null || batch.jobId === null) {
      const status = batch.finalStatus ?? 'validating';
      throw new OpenAIError(409, `Cannot cancel a batch with status "${status}"`, null, 'batch_not_cancellable', 'invalid_request_error');
    }
    try {
      await this.jobsService.cancel(batch.jobId, tenant);
    } catch (error) {
      // The job finished meanwhile: nothing to cancel, the batch completes.
      if (!(error instanceof ApiError && error.code === 'JOB_FINISHED')) throw error;
      return this.view(batch);
    }
    const cancellingAt = batch.cancellingAt ?? unixSeconds();
    await this.records.updateBatch(batch.id, { cancellingAt });
    return this.view({ ...batch, cancellingAt });
  }

  private async load(tenant: string, id: string): Promise<BatchRecord> {
    const batch = isBatchId(id) ? await this.records.getBatch(id, tenant) : null;
    if (!batch) throw notFound('batch', id);
    return batch;
  }

  /** The batch object, with the status its job gives it now; finishes (finalizes, expires) the batch on the way. */
  private async view(batch: BatchRecord, finalizeWaitMs = FINALIZE_WAIT_MS): Promise<BatchObject> {
    if (batch.finalStatus !== null) return toBatchObject(batch, null);
    const now = unixSeconds();
    if (batch.jobId === null) {
      if (now - batch.createdAt < VALIDATION_ABANDONED_SECONDS) return toBatchObject(batch, null);
      const failed = {
        finalStatus: 'failed' as const,
        failedAt: now,
        errors: [{ code: 'validation_interrupted', message: 'the server validating this batch stopped; create it again', param: null, line: null }],
      };
      await this.records.updateBatch(batch.id, failed);
      await this.records.expireBatchAt(batch.id, now + this.env.RETENTION_SECONDS);
      return toBatchObject({ ...batch, ...failed }, null);
    }
    let job = await this.jobStore.get(batch.jobId);
    if (!job) {
      const failed = { finalStatus: 'failed' as const, failedAt: now, errors: [{ code: 'job_missing', message: `job ${batch.jobId} no longer exists`, param: null, line: null }] };
      await this.records.updateBatch(batch.id, failed);
      await this.records.expireBatchAt(batch.id, now + this.env.RETENTION_SECONDS);
      return toBatchObject({ ...batch, ...failed }, null);
    }
    if ((job.state === 'queued' || job.state === 'running') && now >= batch.expiresAt) job = await this.expire(batch, job);
    if (job.state === 'queued' || job.state === 'running') return toBatchObject(batch, this.live(batch, job));

    const finishing = this.finalizer.ensure(batch, job);
    if (finalizeWaitMs > 0) await Promise.race([finishing, new Promise((resolve) => setTimeout(resolve, finalizeWaitMs).unref())]);
    const fresh = (await this.records.getBatch(batch.id, batch.tenant)) ?? batch;
    if (fresh.finalStatus !== null) return toBatchObject(fresh, null);
    return toBatchObject(fresh, this.live(fresh, job));
  }

  /** Past its completion window: the job is cancelled and the batch ends `expired`, its finished requests kept. */
  private async expire(batch: BatchRecord, job: JobRecord): Promise<JobRecord> {
    await this.records.updateBatch(batch.id, { expiredAt: unixSeconds() });
    batch.expiredAt = unixSeconds();
    await this.jobsService.cancel(job.id, batch.tenant).catch((error: unknown) => {
      if (!(error instanceof ApiError && error.code === 'JOB_FINISHED')) throw error;
    });
    this.logger.log(`batch ${batch.id} expired; job ${job.id} cancelled`);
    return (await this.jobStore.get(job.id)) ?? job;
  }

  /**
   * Status and counts from the job. Counts are exact while every request has one input; with
   * multi-input requests they are estimated from the items until the batch is finalized.
   */
  private live(batch: BatchRecord, job: JobRecord): LiveState {
    const exact = batch.itemTotal === batch.requestTotal;
    const scale = (n: number) => (exact || batch.itemTotal === 0 ? n : Math.floor((n * batch.requestTotal) / batch.itemTotal));
    const running = job.state === 'queued' || job.state === 'running';
    const cancelled = job.state === 'cancelled';
    const finishedAt = job.finishedAt === null ? null : unixSeconds(job.finishedAt);
    let status: LiveState['status'];
    if (running) status = batch.cancellingAt !== null ? 'cancelling' : 'in_progress';
    else if (cancelled && batch.expiredAt === null) status = 'cancelling';
    else status = 'finalizing';
    return {
      status,
      completed: scale(job.succeeded),
      failed: scale(job.failed),
      inputTokens: job.usageTokens ?? 0,
      finalizingAt: !running && !cancelled ? finishedAt : null,
      cancellingAt: batch.cancellingAt ?? (cancelled && batch.expiredAt === null ? finishedAt : null),
    };
  }

  /**
   * Reads the batch's input file through the job ingest: the first request fixes the model and
   * options (a batch is one job), every request must agree with it, each input becomes an item.
   */
  private async ingest(
    batchId: string,
    endpoint: OpenAIEndpoint,
    tenant: string,
    input: StoredInput,
    link: (job: JobRecord, requests: number) => Promise<void>,
  ): Promise<{ job: JobRecord; requests: number }> {
    const first = await this.firstRequest(input, endpoint);
    const params = jobParams(endpoint, first.request, { openai_batch_id: batchId });
    let model: ResolvedModel;
    try {
      model = await this.catalog.resolveModel(params.model, params.task);
      const { info } = model;
      if (info && !info.tasks.includes(params.task)) {
        throw new InputError('INVALID_MODEL', `model "${first.request.model}" cannot serve ${endpoint}; it serves: ${info.tasks.join(', ')}`, { field: 'model' });
      }
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      throw new InputError(error.code, `line ${first.line}: ${error.message}`, { line: first.line, field: 'body.model' });
    }
    const width = model.info?.dimensions ?? null;
    const truncate = first.request.truncate ?? true;
    const topK = first.request.topK ?? null;
    const functionToApply = first.request.functionToApply ?? null;
    const dimensions = first.request.dimensions;
    let requests = 0;
    const job = await this.submission.submitStored(
      params,
      input,
      ({ line, text }, _index, out) => {
        const { customId, request } = parseBatchLine(text, line, endpoint);
        const differs = (field: string, what: string) =>
          new InputError('INVALID_OPTION', `line ${line}: ${what} differs from line ${first.line}'s; all requests of a batch share one model and options`, { line, field });
        if (request.model !== first.request.model) throw differs('body.model', `model ${JSON.stringify(request.model)}`);
        if ((request.truncate ?? true) !== truncate) throw differs('body.truncate', '"truncate"');
        if ((request.topK ?? null) !== topK) throw differs('body.top_k', '"top_k"');
        if ((request.functionToApply ?? null) !== functionToApply) throw differs('body.function_to_apply', '"function_to_apply"');
        if (request.dimensions !== dimensions) throw differs('body.dimensions', '"dimensions"');
        if (dimensions !== null && width !== null && dimensions > width) {
          throw new InputError('INVALID_OPTION', `line ${line}: "dimensions" is ${dimensions}, but the model makes embeddings of ${width} values; ask for at most ${width}`, {
            line,
            field: 'body.dimensions',
          });
        }
        requests++;
        for (let position = 0; position < request.inputs.length; position++) out.push({ id: itemId(customId, position), text: request.inputs[position] as string });
      },
      tenant,
      model,
      (record) => link(record, requests),
    );
    return { job, requests };
  }

  private async firstRequest(input: StoredInput, endpoint: OpenAIEndpoint): Promise<BatchLine & { line: number }> {
    const source = await this.objects.stream(input.key, undefined, { version: input.version });
    if (source === null) throw new InputError('INPUT_NOT_FOUND', 'the input file is gone from the file store');
    try {
      for await (const { line, text } of readNdjsonLines(source, this.env.MAX_LINE_BYTES)) return { line, ...parseBatchLine(text, line, endpoint) };
    } finally {
      source.destroy();
    }
    throw new InputError('EMPTY_CORPUS', 'the input file has no requests (no non-blank lines)');
  }
}

/** 503 with the Retry-After of the job path: the batch was not created, the client sends it again. */
function batchNotReplicated(cause: string): ApiError {
  return new ApiError('REDIS_NOT_REPLICATED', `${cause}; the batch was not created`, 503, {}, { 'Retry-After': String(RETRY_AFTER_NOT_REPLICATED) });
}

function toLineError(error: InputError): BatchLineError {
  const field = error.where.field === 'id' ? 'custom_id' : (error.where.field ?? null);
  return { code: error.code.toLowerCase(), message: error.message, param: field, line: error.where.line ?? null };
}
