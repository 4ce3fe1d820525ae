import type { ShardOutcome } from '../queue/shard-payload.js';
import { decodeShardResult, readShardResultHeader, SHARD_RESULT_HEADER_PROBE_BYTES, shardResultHeaderBytes, type ShardResult } from '../results/shard-result.js';
import { jobManifestKey, jobPrefix, jobResultsPrefix, shardOfResultKey, shardResultKey, type JobManifest } from './job-objects.js';
import type { ObjectStore } from './object-store.interface.js';

/**
 * Shard results in the object store: one binary object per shard (results/shard-result.ts), written
 * once. Writing a shard twice keeps the first copy, so a retried shard can neither duplicate nor
 * tear output; the summary in its header is what gets counted.
 */
export class ResultStore {
  constructor(private readonly objects: ObjectStore) {}

  /** 'exists': another run wrote this shard first; its copy is the one that counts. */
  async writeShard(jobId: string, shard: number, object: Uint8Array): Promise<'written' | 'exists'> {
    return this.objects.put(shardResultKey(jobId, shard), object, { ifAbsent: true });
  }

  /** The counts written with the shard, or null when it was never written: a small ranged read. */
  async readSummary(jobId: string, shard: number): Promise<ShardOutcome | null> {
    const key = shardResultKey(jobId, shard);
    const info = await this.objects.stat(key);
    if (info === null) return null;
    let prefix = await this.objects.read(key, { start: 0, end: Math.min(info.size, SHARD_RESULT_HEADER_PROBE_BYTES) });
    if (prefix === null) return null;
    const needed = shardResultHeaderBytes(prefix);
    if (needed > prefix.length) prefix = await this.objects.read(key, { start: 0, end: Math.min(info.size, needed) });
    if (prefix === null) return null;
    return readShardResultHeader(prefix).summary;
  }

  /** The whole shard, decoded; null when it was never written. */
  async readShard(jobId: string, shard: number): Promise<ShardResult | null> {
    const object = await this.objects.read(shardResultKey(jobId, shard));
    return object === null ? null : decodeShardResult(object);
  }

  /** Indexes of the shards written so far, ascending: one listing. */
  async writtenShards(jobId: string): Promise<number[]> {
    const shards: number[] = [];
    for await (const { key } of this.objects.list(jobResultsPrefix(jobId))) {
      const shard = shardOfResultKey(key);
      if (shard !== null) shards.push(shard);
    }
    return shards.sort((a, b) => a - b);
  }

  /** Items per shard, written when the job was accepted; null for a job that has none. */
  async readManifest(jobId: string): Promise<JobManifest | null> {
    const bytes = await this.objects.read(jobManifestKey(jobId));
    return bytes === null ? null : (JSON.parse(bytes.toString('utf8')) as JobManifest);
  }

  /** Every object of the job: its input (when it is the job's own), manifest and results. */
  async deleteJob(jobId: string): Promise<void> {
    await this.objects.deletePrefix(jobPrefix(jobId));
  }
}
