import { Inject, Injectable, Logger } from '@nestjs/common';
import { JobStore, readResultLines, ResultStore, type JobRecord, type ResultLine } from '#shared';
import { API_ENV, type ApiEnv } from '../../config/api-env.js';
import { JobsService } from '../../jobs/jobs.service.js';
import { ShardWaiterService, WaitTimeoutError } from './shard-waiter.service.js';

/** How long a synchronous request's job is kept should the API die before deleting it (retention then removes it). */
export const SYNC_RETENTION_SECONDS = 3600;

/** A synchronous request's job once its shards are done: its record and its result lines by item index. */
export interface FinishedSyncJob {
  finished: JobRecord;
  lines: ResultLine[];
}

/**
 * What every synchronous endpoint (/v1/embeddings, /v1/classifications, /v1/rerank) does with the
 * small job it submitted ahead of the batch backlog: wait for its shards through QueueEvents, read
 * its result lines, and leave nothing behind. Each endpoint maps the errors to its own shape.
 */
@Injectable()
export class SyncJobsService {
  private readonly logger = new Logger(SyncJobsService.name);

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly jobs: JobsService,
    private readonly store: JobStore,
    private readonly results: ResultStore,
    private readonly waiter: ShardWaiterService,
  ) {}

  /**
   * Waits up to SYNC_TIMEOUT_MS for the job's shards, then reads its lines. On timeout the job is
   * cancelled and the WaitTimeoutError rethrown; a ShardFailedError passes through.
   */
  async await(job: JobRecord, tenant: string): Promise<FinishedSyncJob> {
    try {
      await this.waiter.waitForShards(job.id, job.shardsTotal, this.env.SYNC_TIMEOUT_MS);
    } catch (error) {
      if (error instanceof WaitTimeoutError) await this.jobs.cancel(job.id, tenant).catch(() => undefined);
      throw error;
    }
    const finished = (await this.store.get(job.id)) ?? job;
    const lines: ResultLine[] = [];
    for await (const line of readResultLines(this.results, finished)) lines[line.index] = line;
    return { finished, lines };
  }

  /** Deletes the job's record and objects: its answer was the only way to read it. */
  async discard(job: JobRecord): Promise<void> {
    await this.store.delete(job.id, job.tenant).catch((e: unknown) => this.logger.warn(`could not delete the record of ${job.id}: ${(e as Error).message}`));
    await this.results.deleteJob(job.id).catch((e: unknown) => this.logger.warn(`could not delete the objects of ${job.id} (the store janitor will): ${(e as Error).message}`));
  }
}
