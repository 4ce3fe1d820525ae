import { Inject, Injectable, Logger } from '@nestjs/common';
import {
  jobDuplicatesKey,
  jobManifestKey,
  jobPrefix,
  JobStore,
  NotReplicatedError,
  OBJECT_STORE,
  ReplicaAck,
  type JobManifest,
  type ByteRange,
  type JobRecord,
  type ObjectStore,
  type ShardPayload,
} from '#shared';
import { AdmissionService } from '../auth/admission.service.js';
import { ApiError } from '../http/api-error.js';
import type { StoredInput } from '../ingest/input-sources.js';
import { ShardQueueRepository } from '../redis/shard-queue.repository.js';
import type { IngestTarget, IngestTotals } from './job-ingest.js';

/** Seconds a client is told to wait after REDIS_NOT_REPLICATED: about the time Sentinels take to promote a replica. */
export const RETRY_AFTER_NOT_REPLICATED = 5;

/** addBulk groups: shard references are a few hundred bytes, so a group is well under a megabyte. */
const GROUP_SHARDS = 500;

export interface AcceptedJob extends IngestTarget {
  /** The submission's tenant (@Tenant()): the job is its tenant's alone. */
  tenant: string;
  metadata: Record<string, unknown> | null;
  dimensions: number | null;
  /** Webhook target, stored on the record for whoever moves the job to a terminal state. */
  callbackUrl?: string | null;
  /** BullMQ priority of its shards (SHARD_PRIORITY); batch jobs when absent. */
  priority?: number;
  /** Retention once the job ends, in seconds. */
  expiresAfter: number;
  /**
   * Writes that point at the job (an OpenAI batch's link to it), made once the job is committed and
   * before the replica acknowledgement, so the answer covers them too. They must go through the REDIS
   * connection (ReplicaAck waits on it); when they fail, the job is removed like any refused one.
   */
  link?: ((record: JobRecord) => Promise<void>) | undefined;
}

/** Turns a fully validated, stored upload into a job record plus queued shard references, all or nothing. */
@Injectable()
export class JobCommitService {
  private readonly logger = new Logger(JobCommitService.name);

  constructor(
    @Inject(OBJECT_STORE) private readonly objects: ObjectStore,
    private readonly jobs: JobStore,
    private readonly queue: ShardQueueRepository,
    private readonly admission: AdmissionService,
    private readonly replicas: ReplicaAck,
  ) {}

  /**
   * The manifest (items per shard) goes to the store, then the record (state queued) so a worker never meets a shard
   * without its job; the shards follow in addBulk groups. Admission is decided atomically with the
   * record's creation. With REDIS_MIN_REPLICAS_ACK, the record and shards must then reach that many
   * replicas (on both connections that wrote them), with what `job.link` wrote, or the job is refused
   * with 503 REDIS_NOT_REPLICATED.
   * Any failure removes what was enqueued, the record and the manifest, and rethrows; the caller removes
   * the input object.
   */
  async commit(job: AcceptedJob & { input: StoredInput; ownsInput: boolean }, totals: IngestTotals): Promise<JobRecord> {
    const record = newRecord(job, totals);
    // A one-shard job needs no manifest: its shard holds job.total items (small jobs skip a write).
    if (totals.plan.length > 1) {
      const manifest: JobManifest = { v: 1, counts: totals.plan.counts() };
      await this.objects.put(jobManifestKey(job.jobId), Buffer.from(JSON.stringify(manifest)));
    }
    let attempted = 0;
    let created = false;
    try {
      // Counted in the queue-wide backlog from here; delete() below takes it out again on failure.
      const verdict = await this.jobs.create(record, { tokens: totals.estTokens }, this.admission.limitsOf(record.tenant));
      if (verdict.verdict !== 'OK') throw await this.admission.refusal(verdict, totals.total);
      created = true;
      let group: ShardPayload[] = [];
      for (let shard = 0; shard < totals.plan.length; shard++) {
        const planned = totals.plan.at(shard);
        group.push({
          v: 2,
          jobId: job.jobId,
          shard,
          start: planned.start,
          count: planned.count,
          task: job.task,
          modelId: job.modelId,
          options: job.options,
          input: { ...job.input, ...planned.range },
          estTokens: planned.estTokens,
          ...(totals.dedup ? { dedup: dedupOf(totals.dedup.rangeOf(shard)) } : {}),
          tenant: record.tenant,
        });
        if (group.length >= GROUP_SHARDS || shard === totals.plan.length - 1) {
          // Counted before the call: a group that failed halfway may be partly in the queue.
          attempted = shard + 1;
          await this.queue.addShards(group, job.priority);
          group = [];
        }
      }
      await job.link?.(record);
      // Before the 202: a failover right after it must not lose the job (nothing waits when REDIS_MIN_REPLICAS_ACK=0).
      await this.replicas.confirm();
    } catch (error) {
      if (attempted > 0) await this.queue.removeShards(job.jobId, attempted).catch(() => 0);
      let recordRemoved = true;
      if (created) {
        await this.jobs.delete(job.jobId, record.tenant).catch((e: unknown) => {
          recordRemoved = false;
          this.logger.warn(`could not delete the record of ${job.jobId}: ${(e as Error).message}`);
        });
      }
      // The manifest and anything else under the job's prefix (the input object, when it is the job's own).
      if (!job.ownsInput) {
        await this.objects.delete(jobManifestKey(job.jobId)).catch(() => undefined);
        await this.objects.delete(jobDuplicatesKey(job.jobId)).catch(() => undefined);
      } else await this.objects.deletePrefix(jobPrefix(job.jobId)).catch(() => undefined);
      throw error instanceof NotReplicatedError ? notReplicated(error, job.jobId, recordRemoved) : error;
    }
    return record;
  }
}

/**
 * The client retries a 503, so the refused job must not run as well: its record and waiting shards
 * are gone (a worker that already took a shard finds no job and drops it). When the record could not
 * be removed, the message says so, with the id to look it up.
 */
function notReplicated(error: NotReplicatedError, jobId: string, recordRemoved: boolean): ApiError {
  const outcome = recordRemoved
    ? 'the job was not accepted and nothing of it was kept'
    : `the job could not be removed and may still run: see GET /v1/jobs/${jobId} before submitting it again`;
  return new ApiError('REDIS_NOT_REPLICATED', `Redis could not make the job durable: ${error.message}; ${outcome}`, 503, {}, { 'Retry-After': String(RETRY_AFTER_NOT_REPLICATED) });
}

function dedupOf(refs: ByteRange | undefined): NonNullable<ShardPayload['dedup']> {
  return refs ? { refs } : {};
}

function newRecord(job: AcceptedJob & { input: StoredInput }, totals: IngestTotals): JobRecord {
  return {
    id: job.jobId,
    tenant: job.tenant,
    task: job.task,
    modelId: job.modelId,
    options: job.options,
    metadata: job.metadata,
    state: 'queued',
    total: totals.total,
    succeeded: 0,
    failed: 0,
    truncated: 0,
    tokens: 0,
    shardsTotal: totals.plan.length,
    shardsDone: 0,
    shardsFailed: 0,
    dimensions: job.dimensions,
    createdAt: Date.now(),
    startedAt: null,
    finishedAt: null,
    error: null,
    callbackUrl: job.callbackUrl ?? null,
    inputKey: job.input.key,
    expiresAfter: job.expiresAfter,
    expiresAt: null,
  };
}
