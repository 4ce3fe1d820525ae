import type { Readable } from 'node:stream';
import type { ShardOutcome } from '../queue/shard-payload.js';

/** One file per part; `results` is NDJSON, one line per input, in input order within the shard. */
export type ResultPart = 'results' | 'embeddings' | 'errors';

export interface ShardResultFiles {
  /** NDJSON lines: `{"id","index","embedding"}` / `{"id","index","label","score","scores"}` / `{"id","index","error"}`. */
  results: Buffer | string;
  /** Embeddings only: `count x dimensions` little-endian float32, failed items as NaN rows. */
  embeddings?: Buffer;
  /** The error lines of `results`, so listing a job's errors reads no successful output. */
  errors?: Buffer | string;
  /** Counts of this shard, read back when a worker died between writing a shard and counting it. */
  summary: ShardOutcome;
}

/**
 * Where workers put shard output and the API reads it. Results never live in Redis. A shard is
 * written all at once or not at all; writing a shard twice keeps the first copy, so a retried
 * shard can neither duplicate nor tear output. An object store can implement this later.
 */
export interface ResultStore {
  writeShard(jobId: string, shard: number, files: ShardResultFiles): Promise<'written' | 'exists'>;
  hasShard(jobId: string, shard: number): Promise<boolean>;
  /** The summary written with the shard, or null when the shard was never written. */
  readSummary(jobId: string, shard: number): Promise<ShardOutcome | null>;
  /** Null when the shard (or that part of it) was never written. */
  openShard(jobId: string, shard: number, part: ResultPart): Promise<Readable | null>;
  deleteJob(jobId: string): Promise<void>;
}

export const RESULT_STORE = Symbol('RESULT_STORE');
