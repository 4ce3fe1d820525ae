import { Injectable, Logger } from '@nestjs/common';
import { JobStore, type JobRecord, type ShardPayload } from '../../../../libs/shared/src/index.js';
import { DEFAULT_TENANT } from '../config/api-env.js';
import { ShardQueueRepository } from '../redis/shard-queue.repository.js';
import type { IngestTarget } from './job-ingest.js';

/** addBulk groups: ~50 shards, and no more payload than this in memory at once. */
const GROUP_SHARDS = 50;
const GROUP_BYTES = 8 * 1024 * 1024;

export interface AcceptedJob extends IngestTarget {
  metadata: Record<string, unknown> | null;
  dimensions: number | null;
}

/** Turns a fully validated, staged upload into a job record plus queued shards, all or nothing. */
@Injectable()
export class JobCommitService {
  private readonly logger = new Logger(JobCommitService.name);

  constructor(
    private readonly jobs: JobStore,
    private readonly queue: ShardQueueRepository,
  ) {}

  /**
   * The record goes first (state queued) so a worker never meets a shard without its job; the
   * shards follow in addBulk groups read back from staging. Any failure removes what was
   * enqueued and the record, and rethrows.
   */
  async commit(job: AcceptedJob, totals: { total: number; shards: number }): Promise<JobRecord> {
    const record = newRecord(job, totals);
    await this.jobs.create(record);
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
          await this.queue.addShards(group);
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
    tenant: DEFAULT_TENANT,
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
  };
}
