import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Readable } from 'node:stream';
import type { ShardOutcome } from '../queue/shard-payload.js';
import type { ResultPart, ResultStore, ShardResultFiles } from './result-store.interface.js';

const FILE_NAMES: Record<ResultPart, string> = {
  results: 'results.ndjson',
  embeddings: 'embeddings.f32',
  errors: 'errors.ndjson',
};
const SUMMARY_FILE = 'summary.json';
const SAFE_JOB_ID = /^[A-Za-z0-9_-]{1,128}$/;

/**
 * A directory on a local or shared (ReadWriteMany) volume: `<root>/<jobId>/<shard>/…`.
 * A shard is written into a private temp folder and renamed into place; rename of a folder onto an
 * existing non-empty one fails, which is what makes the second writer of a shard a no-op.
 */
export class LocalResultStore implements ResultStore {
  private readonly root: string;
  /** Writes attempted per shard, kept only while fault injection is on. */
  private readonly faultCounts = new Map<string, number>();

  /**
   * `faultWritesPerShard` (TEST ONLY, SHARDWISE_FAULT_RESULT_WRITE): the first N writes of every shard
   * fail halfway with ENOSPC, as on a full disk, after part of the temp folder was written.
   */
  constructor(root: string, private readonly options: { faultWritesPerShard?: number } = {}) {
    this.root = resolve(root);
  }

  async writeShard(jobId: string, shard: number, files: ShardResultFiles): Promise<'written' | 'exists'> {
    const jobDir = this.jobDir(jobId);
    const target = this.shardDir(jobId, shard);
    await mkdir(jobDir, { recursive: true });
    if (await exists(target)) return 'exists';
    const temp = await mkdtemp(join(jobDir, `.tmp-${shard}-`));
    try {
      await writeFile(join(temp, FILE_NAMES.results), files.results);
      this.injectFault(jobId, shard);
      await writeFile(join(temp, SUMMARY_FILE), JSON.stringify(files.summary));
      if (files.embeddings) await writeFile(join(temp, FILE_NAMES.embeddings), files.embeddings);
      if (files.errors && files.errors.length > 0) await writeFile(join(temp, FILE_NAMES.errors), files.errors);
      await rename(temp, target);
      return 'written';
    } catch (error) {
      await rm(temp, { recursive: true, force: true });
      const code = (error as NodeJS.ErrnoException).code;
      if ((code === 'ENOTEMPTY' || code === 'EEXIST') && (await exists(target))) return 'exists';
      throw error;
    }
  }

  private injectFault(jobId: string, shard: number): void {
    const faults = this.options.faultWritesPerShard ?? 0;
    if (faults <= 0) return;
    const key = `${jobId}/${shard}`;
    const attempt = (this.faultCounts.get(key) ?? 0) + 1;
    this.faultCounts.set(key, attempt);
    if (attempt > faults) return;
    const error: NodeJS.ErrnoException = new Error(`ENOSPC: no space left on device, write (fault injected by SHARDWISE_FAULT_RESULT_WRITE, write ${attempt} of ${faults})`);
    error.code = 'ENOSPC';
    error.errno = -28;
    throw error;
  }

  async hasShard(jobId: string, shard: number): Promise<boolean> {
    return exists(this.shardDir(jobId, shard));
  }

  async readSummary(jobId: string, shard: number): Promise<ShardOutcome | null> {
    try {
      return JSON.parse(await readFile(join(this.shardDir(jobId, shard), SUMMARY_FILE), 'utf8')) as ShardOutcome;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async openShard(jobId: string, shard: number, part: ResultPart): Promise<Readable | null> {
    const path = join(this.shardDir(jobId, shard), FILE_NAMES[part]);
    if (!(await exists(path))) return null;
    return createReadStream(path);
  }

  async deleteJob(jobId: string): Promise<void> {
    await rm(this.jobDir(jobId), { recursive: true, force: true });
  }

  private jobDir(jobId: string): string {
    // Job ids come from URLs: never let one name a path outside the store.
    if (!SAFE_JOB_ID.test(jobId)) throw new Error(`invalid job id for result store: ${JSON.stringify(jobId)}`);
    return join(this.root, jobId);
  }

  private shardDir(jobId: string, shard: number): string {
    if (!Number.isInteger(shard) || shard < 0) throw new Error(`invalid shard index ${shard}`);
    return join(this.jobDir(jobId), String(shard).padStart(6, '0'));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
