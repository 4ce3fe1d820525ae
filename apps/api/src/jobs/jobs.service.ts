import { Injectable, Logger } from '@nestjs/common';
import { JobStore, type JobRecord } from '../../../../libs/shared/src/index.js';
import { DEFAULT_TENANT } from '../config/api-env.js';
import { ApiError, jobNotFound } from '../http/api-error.js';
import { CancelChannelRepository } from '../redis/cancel-channel.repository.js';
import { ShardQueueRepository } from '../redis/shard-queue.repository.js';
import { isJobId } from './job-id.js';

export const MAX_PAGE_SIZE = 100;

@Injectable()
export class JobsService {
  private readonly logger = new Logger(JobsService.name);

  constructor(
    private readonly jobs: JobStore,
    private readonly queue: ShardQueueRepository,
    private readonly cancelChannel: CancelChannelRepository,
  ) {}

  /** JOB_NOT_FOUND for unknown ids and for malformed ones, which never reach Redis. */
  async get(id: string): Promise<JobRecord> {
    if (!isJobId(id)) throw jobNotFound(id);
    const job = await this.jobs.get(id);
    if (!job) throw jobNotFound(id);
    return job;
  }

  async list(limit: number, offset: number): Promise<{ jobs: JobRecord[]; total: number }> {
    return this.jobs.list(DEFAULT_TENANT, offset, limit);
  }

  /**
   * Marks the job cancelled, then takes its waiting shards off the queue and tells workers to stop
   * the ones in flight. Cancelling a cancelled job is a no-op that still answers with the job.
   */
  async cancel(id: string): Promise<JobRecord> {
    if (!isJobId(id)) throw jobNotFound(id);
    const before = await this.jobs.cancel(id);
    if (before === null) throw jobNotFound(id);
    if (before === 'completed' || before === 'failed') {
      throw new ApiError('JOB_FINISHED', `job ${id} already ${before}; only queued or running jobs can be cancelled`, 409);
    }
    const job = await this.get(id);
    if (before !== 'cancelled') {
      // Active shards are locked and stay; their workers check the state and hear the publish below.
      const removed = await this.queue.removeShards(id, job.shardsTotal);
      await this.cancelChannel.publish(id);
      this.logger.log(`job ${id} cancelled (${removed} waiting shards removed)`);
    }
    return job;
  }
}
