import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { JobNotifier, JobStore, ResultStore, TERMINAL_STATES, type JobRecord } from '#shared';
import { FileCatalog } from '../storage/file-catalog.repository.js';
import { ApiError, jobNotFound } from '../http/api-error.js';
import { CancelChannelRepository } from '../redis/cancel-channel.repository.js';
import { ShardQueueRepository } from '../redis/shard-queue.repository.js';
import { isJobId } from './job-id.js';

export const MAX_PAGE_SIZE = 100;

@Injectable()
export class JobsService implements OnModuleInit {
  private readonly logger = new Logger(JobsService.name);

  constructor(
    private readonly jobs: JobStore,
    private readonly queue: ShardQueueRepository,
    private readonly cancelChannel: CancelChannelRepository,
    private readonly notifications: JobNotifier,
    private readonly files: FileCatalog,
    private readonly results: ResultStore,
  ) {}

  onModuleInit(): void {
    // A job run on an uploaded file by reference reads it until the job ends.
    this.files.registerUserCheck('job', async (id) => {
      const state = await this.jobs.getState(id);
      return state === null || TERMINAL_STATES.includes(state);
    });
  }

  /**
   * JOB_NOT_FOUND for unknown ids, for malformed ones (which never reach Redis) and for jobs of
   * another tenant: a tenant cannot even learn that another tenant's job exists.
   * `tenant` is the caller's, from @Tenant() (apps/api/src/auth).
   */
  async get(id: string, tenant: string): Promise<JobRecord> {
    if (!isJobId(id)) throw jobNotFound(id);
    const job = await this.jobs.get(id);
    if (!job || job.tenant !== tenant) throw jobNotFound(id);
    return job;
  }

  /** The tenant's jobs, newest first. */
  async list(limit: number, offset: number, tenant: string): Promise<{ jobs: JobRecord[]; total: number }> {
    return this.jobs.list(tenant, offset, limit);
  }

  /**
   * Marks the job cancelled, then takes its waiting shards off the queue and tells workers to stop
   * the ones in flight. Cancelling a cancelled job is a no-op that still answers with the job.
   */
  async cancel(id: string, tenant: string): Promise<JobRecord> {
    // Ownership first: another tenant's job is not found, and stays as it is.
    await this.get(id, tenant);
    const before = await this.jobs.cancel(id);
    if (before === null) throw jobNotFound(id);
    if (before === 'completed' || before === 'failed') {
      throw new ApiError('JOB_FINISHED', `job ${id} already ${before}; only queued or running jobs can be cancelled`, 409);
    }
    const job = await this.get(id, tenant);
    if (before !== 'cancelled') {
      // Active shards are locked and stay; their workers check the state and hear the publish below.
      const removed = await this.queue.removeShards(id, job.shardsTotal);
      await this.cancelChannel.publish(id);
      this.logger.log(`job ${id} cancelled (${removed} waiting shards removed)`);
      // This call made the transition: it alone queues the webhook and tells live streams.
      await this.notifications.jobTerminal(job);
    }
    return job;
  }

  /**
   * Deletes a job: its record (and with it its place in every list and counter), its shards' BullMQ
   * records, and its objects in the store (its own input, manifest and results; a corpus it only
   * referenced stays). A queued or running job is refused (409 JOB_RUNNING) unless `cancel` says to
   * cancel it first. Shards a worker still holds find the job gone, and what they might still write
   * is removed by the store janitor as the objects of a job without a record.
   */
  async delete(id: string, tenant: string, { cancel = false } = {}): Promise<void> {
    const job = await this.get(id, tenant);
    if (!TERMINAL_STATES.includes(job.state)) {
      if (!cancel) throw new ApiError('JOB_RUNNING', `job ${id} is ${job.state}; cancel it first, or delete it with ?cancel=true`, 409);
      await this.cancel(id, tenant).catch((error: unknown) => {
        if (!(error instanceof ApiError && error.code === 'JOB_FINISHED')) throw error;
      });
    }
    await this.purge(job);
  }

  /** The deletion itself, for a job known to exist (DELETE, and the retention janitor). */
  async purge(job: Pick<JobRecord, 'id' | 'tenant' | 'shardsTotal'>): Promise<void> {
    await this.jobs.delete(job.id, job.tenant);
    await this.queue.removeShards(job.id, job.shardsTotal);
    await this.results.deleteJob(job.id);
    this.logger.log(`job ${job.id} deleted`);
  }
}
