import { Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { JobStore, ResultStore } from '#shared';
import { StoreJanitorService } from '../storage/store-janitor.service.js';
import { JobsService } from './jobs.service.js';

/** Expired jobs are deleted in batches of this many, ... */
const BATCH = 100;
/** ... at most this many per janitor pass, so one pass stays short however much expired at once. */
const MAX_PER_PASS = 2000;

/**
 * Retention of jobs: a job expires `expires_after` seconds after it ends (its `expiresAt`, set in the
 * Lua step that ends it, also enters the expiry set). Each janitor pass deletes the due ones, oldest
 * first, in bounded batches, exactly as DELETE /v1/jobs/:id does. Idempotent and safe with several
 * API replicas: the janitor runs under a lock, and deleting a deleted job removes nothing.
 */
@Injectable()
export class JobRetentionService implements OnModuleInit {
  private readonly logger = new Logger(JobRetentionService.name);

  constructor(
    private readonly janitor: StoreJanitorService,
    private readonly jobs: JobStore,
    private readonly results: ResultStore,
    private readonly service: JobsService,
  ) {}

  onModuleInit(): void {
    this.janitor.registerSweep('expired jobs', (now) => this.sweep(now));
  }

  async sweep(now: number): Promise<number> {
    let deleted = 0;
    while (deleted < MAX_PER_PASS) {
      const due = await this.jobs.expiredJobs(now, BATCH);
      if (due.length === 0) break;
      for (const id of due) {
        const job = await this.jobs.get(id);
        if (job === null) {
          // Deleted meanwhile (DELETE, another pass): only its entry and any objects are left.
          await this.results.deleteJob(id);
          await this.jobs.forgetExpiry(id);
        } else {
          await this.service.purge(job);
        }
        deleted++;
      }
    }
    if (deleted > 0) this.logger.log(`deleted ${deleted} expired jobs`);
    return deleted;
  }
}
