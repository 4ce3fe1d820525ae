import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { jobInputKey, jobManifestKey, jobPrefix, JobStore, OBJECT_STORE, type ObjectStore } from '../../../../libs/shared/src/index.js';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { REDIS } from '../redis/redis.tokens.js';
import { FileCatalog } from './file-catalog.repository.js';

export interface SweepReport {
  partialWrites: number;
  orphanJobs: number;
  deletedFiles: number;
}

/**
 * Removes what a crash left in the object store, every STORE_JANITOR_MS on one API replica at a time
 * (a Redis lock): partial writes older than ORPHAN_GRACE_MS (an upload cut off by a dying API), the
 * objects of jobs that have no record (accepted by nobody: the API died between storing the input
 * and creating the record; or a synchronous request's leftovers) once their newest input or
 * manifest is older than the grace, and the bytes of deleted files that no job or batch needs any
 * more. Idempotent: two sweeps remove nothing twice, and anything still being written is young.
 */
@Injectable()
export class StoreJanitorService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger(StoreJanitorService.name);
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<unknown> | undefined;
  private readonly lockKey: string;

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(OBJECT_STORE) private readonly objects: ObjectStore,
    private readonly jobs: JobStore,
    private readonly files: FileCatalog,
  ) {
    this.lockKey = `${env.REDIS_PREFIX}:lock:store-janitor`;
  }

  onApplicationBootstrap(): void {
    if (this.env.STORE_JANITOR_MS <= 0) return;
    this.timer = setInterval(() => {
      this.running ??= this.sweepLocked()
        .catch((error: unknown) => this.logger.warn(`store sweep failed (retried next time): ${(error as Error).message}`))
        .finally(() => (this.running = undefined));
    }, this.env.STORE_JANITOR_MS);
    this.timer.unref();
  }

  async onApplicationShutdown(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /** One sweep under the lock; null when another replica holds it. */
  async sweepLocked(now = Date.now()): Promise<SweepReport | null> {
    const token = randomBytes(12).toString('hex');
    // The lock outlives a sweep that hangs; a sweep is cheap to repeat.
    if ((await this.redis.set(this.lockKey, token, 'PX', Math.max(60_000, this.env.STORE_JANITOR_MS), 'NX')) !== 'OK') return null;
    try {
      return await this.sweep(now);
    } finally {
      await this.redis.eval("if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0", 1, this.lockKey, token);
    }
  }

  /** The sweep itself (tests call it directly with a `now` in the future). */
  async sweep(now = Date.now()): Promise<SweepReport> {
    const before = now - this.env.ORPHAN_GRACE_MS;
    const partialWrites = await this.objects.sweepPartial(before);
    let orphanJobs = 0;
    for await (const folder of this.objects.listFolders('jobs/')) {
      const jobId = folder.slice('jobs/'.length, -1);
      if ((await this.jobs.getState(jobId)) !== null) continue;
      const [input, manifest] = await Promise.all([this.objects.stat(jobInputKey(jobId)), this.objects.stat(jobManifestKey(jobId))]);
      const newest = Math.max(input?.modifiedAt ?? 0, manifest?.modifiedAt ?? 0);
      if (newest >= before) continue;
      // Checked again: the record may have been created while the objects were looked at.
      if ((await this.jobs.getState(jobId)) !== null) continue;
      await this.objects.deletePrefix(jobPrefix(jobId));
      orphanJobs++;
    }
    const deletedFiles = await this.files.sweepTrash();
    const report = { partialWrites, orphanJobs, deletedFiles };
    if (partialWrites + orphanJobs + deletedFiles > 0) this.logger.log(`store sweep: removed ${partialWrites} partial writes, the objects of ${orphanJobs} jobs without a record, ${deletedFiles} deleted files`);
    return report;
  }
}
