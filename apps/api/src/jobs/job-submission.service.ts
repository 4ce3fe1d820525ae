import { Inject, Injectable, Logger } from '@nestjs/common';
import { InputError, jobDuplicatesKey, jobInputKey, OBJECT_STORE, toInputItem, type InputItem, type JobRecord, type NdjsonLine, type ObjectStore } from '#shared';
import { taskModule } from '#models';
import { AdmissionService } from '../auth/admission.service.js';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { ApiError } from '../http/api-error.js';
import type { ApiRequest } from '../http/request.types.js';
import { DuplicateRefsWriter } from '../ingest/duplicate-refs-writer.js';
import { ItemsSource, NdjsonBodySource, rereadIds, StoredObjectSource, type InputSource, type StoredInput } from '../ingest/input-sources.js';
import { paramsFromBody, paramsFromQuery, type JobParams } from '../ingest/job-params.js';
import { MetricsService } from '../metrics/metrics.service.js';
import { ModelCatalogRepository, type ResolvedModel } from '../models/model-catalog.repository.js';
import { CorpusReferenceService } from './corpus-reference.service.js';
import { newJobId } from './job-id.js';
import { JobCommitService, type AcceptedJob } from './job-commit.service.js';
import { JobIngest } from './job-ingest.js';
import { bodyKind } from './media-type.js';

/** Fields of a JSON job body that name its corpus; exactly one is given. */
const CORPUS_FIELDS = ['inputs', 'input_file_id', 'input_object'] as const;

/**
 * Accepts a job whole or not at all. Its corpus is stored once, as one object in the object store,
 * in the same pass that validates it and plans its shards (byte ranges of that object); only a fully
 * valid upload creates the job record and enqueues its shards, which are references of a few hundred
 * bytes. A job may also run on an object already in the store (an uploaded file or a path), which is
 * read to validate it and never copied.
 */
@Injectable()
export class JobSubmissionService {
  private readonly logger = new Logger(JobSubmissionService.name);

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    @Inject(OBJECT_STORE) private readonly objects: ObjectStore,
    private readonly committer: JobCommitService,
    private readonly catalog: ModelCatalogRepository,
    private readonly metrics: MetricsService,
    private readonly admission: AdmissionService,
    private readonly corpora: CorpusReferenceService,
  ) {}

  async submit(req: ApiRequest, tenant: string): Promise<JobRecord> {
    const kind = bodyKind(req.headers['content-type']);
    if (kind === 'json') return this.submitJson(req.body, tenant);
    if (kind === 'ndjson') return this.submitNdjson(req, tenant);
    throw new InputError(
      'UNSUPPORTED_MEDIA_TYPE',
      `Content-Type ${JSON.stringify(req.headers['content-type'] ?? '')} is not accepted; send application/json, or application/x-ndjson (application/jsonl) for large jobs`,
    );
  }

  /**
   * Items in memory (the synchronous /v1/embeddings routes): the same model resolution, sharding,
   * duplicate-id checks and all-or-nothing commit as POST /v1/jobs. Item i gets id String(i).
   * `priority` is the BullMQ priority of the shards (SHARD_PRIORITY; batch when absent).
   */
  async submitTexts(params: JobParams, texts: readonly string[], priority: number | undefined, tenant: string, model?: ResolvedModel): Promise<JobRecord> {
    return this.submitItems(
      params,
      texts.map((text, index) => ({ id: String(index), text })),
      priority,
      tenant,
      model,
    );
  }

  /** The same for items already validated (a synchronous rerank: one query with its documents). */
  async submitItems(params: JobParams, items: readonly InputItem[], priority: number | undefined, tenant: string, model?: ResolvedModel): Promise<JobRecord> {
    const job = await this.prepare(params, tenant, model);
    const source = new ItemsSource(this.objects, jobInputKey(job.jobId), items.length, (index) => items[index] as InputItem);
    return this.run({ ...job, priority }, source);
  }

  /**
   * A job over an object already in the store (an OpenAI batch's input file): `parseLine` validates
   * each line and gives its items, and may throw InputError naming the line. Nothing is copied.
   * `link` writes what points at the job before the replica acknowledgement (AcceptedJob.link).
   */
  async submitStored(
    params: JobParams,
    input: StoredInput,
    parseLine: (line: NdjsonLine, index: number, out: InputItem[]) => void,
    tenant: string,
    model?: ResolvedModel,
    link?: AcceptedJob['link'],
  ): Promise<JobRecord> {
    const job = await this.prepare(params, tenant, model);
    return this.run({ ...job, link }, new StoredObjectSource(this.objects, input, this.env.MAX_LINE_BYTES, parseLine));
  }

  private async submitJson(body: unknown, tenant: string): Promise<JobRecord> {
    if (body === undefined) throw new InputError('INVALID_JSON', 'the request body is empty; send a JSON object');
    if (body === null || typeof body !== 'object' || Array.isArray(body)) {
      throw new InputError('INVALID_INPUT', 'the request body must be a JSON object with "task" and "inputs"');
    }
    const request = body as Record<string, unknown>;
    const named = CORPUS_FIELDS.filter((field) => request[field] !== undefined);
    if (named.length !== 1) {
      const problem = named.length === 0 ? 'none is given' : `${named.map((f) => `"${f}"`).join(' and ')} are both given`;
      throw new InputError('INVALID_INPUT', `a job names its corpus with exactly one of "inputs", "input_file_id" or "input_object"; ${problem}`, { field: named[1] ?? 'inputs' });
    }
    const { inputs, input_file_id: fileId, input_object: objectPath, ...rest } = request;
    const job = await this.prepare(paramsFromBody(rest), tenant);
    if (fileId !== undefined || objectPath !== undefined) {
      const reference = await this.corpora.resolve({ fileId, objectPath }, tenant);
      return this.run(job, new StoredObjectSource(this.objects, reference.input, this.env.MAX_LINE_BYTES, undefined, reference.missing), reference);
    }
    if (!Array.isArray(inputs)) throw new InputError('INVALID_INPUT', 'field "inputs" must be an array', { field: 'inputs' });
    if (inputs.length > this.env.MAX_INPUTS_PER_JOB) {
      throw new InputError('TOO_MANY_INPUTS', `${inputs.length} inputs; at most ${this.env.MAX_INPUTS_PER_JOB} per job (MAX_INPUTS_PER_JOB)`, { field: 'inputs' });
    }
    const source = new ItemsSource(this.objects, jobInputKey(job.jobId), inputs.length, (index) =>
      toInputItem(inputs[index], index, { kind: 'index', index }, taskModule(job.task).input),
    );
    return this.run(job, source);
  }

  private async submitNdjson(req: ApiRequest, tenant: string): Promise<JobRecord> {
    const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
    if (encoding !== 'identity') {
      throw new InputError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding "${encoding}" is not supported for NDJSON uploads; send the body uncompressed`);
    }
    // Parameters are checked before a byte of the body is read.
    const job = await this.prepare(paramsFromQuery(req.query), tenant);
    // destroyOnReturn: false keeps the socket when input is refused halfway, so the error still reaches the client.
    const body = req.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>;
    const source = new NdjsonBodySource(this.objects, jobInputKey(job.jobId), body, this.env.MAX_LINE_BYTES, () => {
      if (!req.complete) throw clientGone();
    });
    return this.run(job, source, undefined, req);
  }

  /** `model`: the model as the caller already resolved it for these params (the OpenAI routes check it first). */
  private async prepare(params: JobParams, tenant: string, model?: ResolvedModel): Promise<AcceptedJob> {
    const { modelId, info } = model ?? (await this.catalog.resolveModel(params.model, params.task));
    if (info && !info.tasks.includes(params.task)) {
      throw new InputError('INVALID_MODEL', `model "${modelId}" cannot serve task "${params.task}"; it serves: ${info.tasks.join(', ')}`, { field: 'model' });
    }
    const task = taskModule(params.task);
    const problem = task.optionsProblem?.(info, params.options);
    if (problem !== undefined) throw new InputError('INVALID_OPTION', problem.message, { field: problem.option });
    return {
      jobId: newJobId(),
      tenant,
      task: params.task,
      modelId,
      options: params.options,
      metadata: params.metadata,
      callbackUrl: params.callbackUrl,
      expiresAfter: params.expiresAfter ?? this.env.RETENTION_SECONDS,
      // Known up front only for local models; Hub models report their width to workers alone.
      dimensions: task.output === 'vector' ? (params.options.dimensions ?? info?.dimensions ?? null) : null,
      maxTokens: info?.maxTokens ?? null,
      dedup: (params.dedup ?? true) && this.env.DEDUP_MAX_TEXTS > 0,
    };
  }

  /**
   * Admission, then one pass over the corpus (validated, planned, stored), then the commit. On any
   * failure what was written is removed: no record, no shard, no input object. `pin` keeps a shared
   * input (an uploaded file) from being deleted while the job needs it.
   */
  private async run(job: AcceptedJob, source: InputSource, pin?: { pin(jobId: string): Promise<void>; unpin(jobId: string): Promise<void> }, req?: ApiRequest): Promise<JobRecord> {
    // Admission first (429 TOO_MANY_JOBS / BACKLOG_FULL): nothing is read or stored for a job that would be refused.
    await this.admission.precheck(job.tenant);
    const limits = { maxTexts: this.env.SHARD_MAX_TEXTS, maxBytes: this.env.SHARD_MAX_BYTES, maxInputs: this.env.MAX_INPUTS_PER_JOB };
    const refs = job.dedup ? new DuplicateRefsWriter(this.objects, jobDuplicatesKey(job.jobId)) : undefined;
    const ingest = new JobIngest(job, limits, source.style, refs && { maxTexts: this.env.DEDUP_MAX_TEXTS, refs });
    const started = Date.now();
    let accepted = false;
    try {
      await pin?.pin(job.jobId);
      const input = await source.feed(ingest);
      const totals = await ingest.finish(() => rereadIds(this.objects, input, source.style));
      const read = Date.now();
      const record = await this.committer.commit({ ...job, input, ownsInput: source.owned }, totals);
      accepted = true;
      this.metrics.jobsSubmitted.inc({ task: job.task });
      this.metrics.textsSubmitted.inc({ task: job.task }, totals.total);
      this.metrics.shardsEnqueued.inc({ task: job.task }, totals.plan.length);
      const index = ingest.dedupIndex;
      this.logger.log(
        `job ${job.jobId} accepted: ${job.task} with ${job.modelId}, ${totals.total} inputs in ${totals.plan.length} shards from ${input.key} ` +
          `(read ${read - started} ms, enqueued ${Date.now() - read} ms)` +
          (index
            ? `; dedup: ${totals.repeats} repeats, ${index.distinct} distinct texts held in ${(index.bytes / 1048576).toFixed(1)} MiB, ${index.overflowed} past DEDUP_MAX_TEXTS`
            : ''),
      );
      return record;
    } catch (error) {
      if (req && !req.complete && !(error instanceof InputError) && (req.destroyed || req.readableAborted)) throw clientGone();
      throw error;
    } finally {
      await ingest.dispose();
      if (!accepted) {
        await source.discard().catch((error: unknown) => {
          this.logger.warn(`could not remove the input of refused job ${job.jobId} (the store janitor will): ${(error as Error).message}`);
        });
        await refs?.discard().catch(() => undefined);
        await pin?.unpin(job.jobId).catch(() => undefined);
      }
    }
  }
}

function clientGone(): ApiError {
  return new ApiError('CLIENT_CLOSED_REQUEST', 'the client closed the connection before the upload ended; nothing was enqueued', 499);
}
