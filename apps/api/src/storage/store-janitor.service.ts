import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { jobInputKey, jobManifestKey, jobPrefix, JobStore, OBJECT_STORE, releaseLock, type ObjectStore } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { REDIS } from '../redis/redis.tokens.js';
import { FileCatalog } from './file-catalog.repository.js';

/** Job folders checked against Redis per pipelined round trip. */
const ORPHAN_BATCH = 500;

export interface SweepReport {
  partialWrites: number;
  orphanJobs: number;
  deletedFiles: number;
  /** What each registered sweep (expired jobs, files, batches) removed. */
  expired: Record<string, number>;
}

/** A sweep another module adds (retention of its own records); returns how many it removed. */
export type Sweep = (now: number) => Promise<number>;

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
  private readonly sweeps = new Map<string, Sweep>();

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(OBJECT_STORE) private readonly objects: ObjectStore,
    private readonly jobs: JobStore,
    private readonly files: FileCatalog,
  ) {
    this.lockKey = `${env.REDIS_PREFIX}:lock:store-janitor`;
  }

  /** Runs `sweep` in every janitor pass, under the same lock (retention of jobs, files, batches). */
  registerSweep(name: string, sweep: Sweep): void {
    this.sweeps.set(name, sweep);
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
      await releaseLock(this.redis, this.lockKey, token);
    }
  }

  /** Deletes the objects of a job that has no record, once its input and manifest are older than the grace. */
  private async removeOrphan(jobId: string, before: number): Promise<boolean> {
    const [input, manifest] = await Promise.all([this.objects.stat(jobInputKey(jobId)), this.objects.stat(jobManifestKey(jobId))]);
    const newest = Math.max(input?.modifiedAt ?? 0, manifest?.modifiedAt ?? 0);
    if (newest >= before) return false;
    // Checked again: the record may have been created while the objects were looked at.
    if ((await this.jobs.getState(jobId)) !== null) return false;
    await this.objects.deletePrefix(jobPrefix(jobId));
    return true;
  }

  /** The sweep itself (tests call it directly with a `now` in the future). */
  async sweep(now = Date.now()): Promise<SweepReport> {
    const before = now - this.env.ORPHAN_GRACE_MS;
    const expired: Record<string, number> = {};
    for (const [name, sweep] of this.sweeps) {
      try {
        expired[name] = await sweep(now);
      } catch (error) {
        this.logger.warn(`${name}: ${(error as Error).message} (retried next time)`);
      }
    }
    expired['expired files'] = await this.files.sweepExpired(Math.floor(now / 1000));
    const partialWrites = await this.objects.sweepPartial(before);
    let orphanJobs = 0;
    let folders: string[] = [];
    const check = async () => {
      // One pipelined round trip per batch: which of these jobs have a record?
      const known = await this.jobs.existing(folders.map((folder) => folder.slice('jobs/'.length, -1)));
      for (const [i, folder] of folders.entries()) {
        const jobId = folder.slice('jobs/'.length, -1);
        if (!known[i] && (await this.removeOrphan(jobId, before))) orphanJobs++;
      }
      folders = [];
    };
    for await (const folder of this.objects.listFolders('jobs/')) {
      folders.push(folder);
      if (folders.length >= ORPHAN_BATCH) await check();
    }
    await check();
    const deletedFiles = await this.files.sweepTrash();
    const report = { partialWrites, orphanJobs, deletedFiles, expired };
    const expiredTotal = Object.values(expired).reduce((a, b) => a + b, 0);
    if (partialWrites + orphanJobs + deletedFiles + expiredTotal > 0) {
      const retention = Object.entries(expired)
        .map(([name, n]) => `${n} ${name}`)
        .join(', ');
      this.logger.log(
        `store sweep: removed ${retention ? `${retention}, ` : ''}${partialWrites} partial writes, the objects of ${orphanJobs} jobs without a record, ${deletedFiles} deleted files`,
      );
    }
    return report;
  }
}
