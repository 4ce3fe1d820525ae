import { Injectable, Logger } from '@nestjs/common';
import { JobStore, type JobRecord, type ShardPayload } from '../../../../libs/shared/src/index.js';
import { AdmissionService } from '../auth/admission.service.js';
import { ShardQueueRepository } from '../redis/shard-queue.repository.js';
import type { IngestTarget } from './job-ingest.js';

/** addBulk groups: ~50 shards, and no more payload than this in memory at once. */
const GROUP_SHARDS = 50;
const GROUP_BYTES = 8 * 1024 * 1024;

export interface AcceptedJob extends IngestTarget {
  /** tenantOf(req) of the submission: the job is its tenant's alone. */
  tenant: string;
  metadata: Record<string, unknown> | null;
  dimensions: number | null;
  /** Webhook target, stored on the record for whoever moves the job to a terminal state. */
  callbackUrl?: string | null;
  /** BullMQ priority of its shards (SHARD_PRIORITY); batch jobs when absent. */
  priority?: number;
}

/** Turns a fully validated, staged upload into a job record plus queued shards, all or nothing. */
@Injectable()
export class JobCommitService {
  private readonly logger = new Logger(JobCommitService.name);

  constructor(
    private readonly jobs: JobStore,
    private readonly queue: ShardQueueRepository,
    private readonly admission: AdmissionService,
  ) {}

  /**
   * The record goes first (state queued) so a worker never meets a shard without its job; the
   * shards follow in addBulk groups read back from staging. Any failure removes what was
   * enqueued and the record, and rethrows.
   */
  async commit(job: AcceptedJob, totals: { total: number; shards: number; estTokens?: number }): Promise<JobRecord> {
    const record = newRecord(job, totals);
    // Counted in the queue-wide backlog from here; delete() below takes it out again on failure.
    // Admission (tenant's unfinished jobs, backlog budget) is decided atomically with the creation.
    const verdict = await this.jobs.create(record, { tokens: totals.estTokens ?? 0 }, this.admission.limitsOf(record.tenant));
    if (verdict !== 'OK') throw this.admission.refusal(verdict, record.tenant);
    let attempted = 0;
    try {
      let group: ShardPayload[] = [];
      let groupBytes = 0;
      for (let shard = 0; shard < totals.shards; shard++) {
        const staged = await this.jobs.takeStagedShard(job.jobId, shard);
        if (staged === null) throw new Error(`staged shard ${shard} of ${job.jobId} is missing (staging expired?)`);
        group.push(JSON.parse(staged) as ShardPayload);
        groupBytes += staged.length;
        if (group.length >= GROUP_SHARDS || groupBytes >= GROUP_BYTES || shard === totals.shards - 1) {
          // Counted before the call: a group that failed halfway may be partly in the queue.
          attempted = shard + 1;
          await this.queue.addShards(group, job.priority);
          group = [];
          groupBytes = 0;
        }
      }
    } catch (error) {
      await this.queue.removeShards(job.jobId, attempted).catch(() => 0);
      await this.jobs.delete(job.jobId, record.tenant).catch((e: unknown) => {
        this.logger.warn(`could not delete the record of ${job.jobId}: ${(e as Error).message}`);
      });
      throw error;
    }
    return record;
  }
}

function newRecord(job: AcceptedJob, totals: { total: number; shards: number }): JobRecord {
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
    shardsTotal: totals.shards,
    shardsDone: 0,
    shardsFailed: 0,
    dimensions: job.dimensions,
    createdAt: Date.now(),
    startedAt: null,
    finishedAt: null,
    error: null,
    callbackUrl: job.callbackUrl ?? null,
  };
}
