import type { Redis } from 'ioredis';
import { fromHash, toHash, type JobRecord, type JobState } from './job-record.js';
import { JobKeys } from './job-keys.js';
import { CANCEL_JOB, COMPLETE_SHARD, DELETE_JOB, FAIL_SHARD, MARK_RUNNING } from './job-scripts.js';
import { ADMISSION_CHECK, CREATE_JOB, STAGE_SHARD } from './admission-scripts.js';
import type { ShardOutcome } from '../queue/shard-payload.js';

/** Staged shards outlive an upload only this long, so an API that dies mid-upload leaves nothing behind. */
const STAGING_TTL_SECONDS = 3600;

export type ShardCountResult = 'unknown-job' | 'already-counted' | 'counted' | 'job-finished';
const COUNT_RESULTS: Record<string, ShardCountResult> = { '-1': 'unknown-job', '0': 'already-counted', '1': 'counted', '2': 'job-finished' };

/** Per-tenant admission limits (0 = none); see admission-scripts.ts. */
export interface AdmissionLimits {
  /** Unfinished jobs the tenant may have (MAX_CONCURRENT_JOBS / max_concurrent_jobs). */
  maxActiveJobs: number;
  /** Budget of staged + queued shard payload bytes in Redis (ADMISSION_MAX_BACKLOG_BYTES). */
  maxBacklogBytes: number;
}
export type AdmissionVerdict = 'OK' | 'TOO_MANY_JOBS' | 'BACKLOG_FULL';
const NO_LIMITS: AdmissionLimits = { maxActiveJobs: 0, maxBacklogBytes: 0 };

/** Redis repository for job records: the only code that reads or writes them. */
export class JobStore {
  readonly keys: JobKeys;

  constructor(private readonly redis: Redis, prefix: string) {
    this.keys = new JobKeys(prefix);
  }

  /**
   * With `estimate` (the ingest estimate of the job's tokens, see ops/token-estimate.ts) the job is
   * counted in the queue-wide stats (jobs per state, backlog texts, tokens and bytes) from now until it
   * ends, and admitted against `admission` (admission-scripts.ts): nothing is written unless 'OK'.
   */
  async create(record: JobRecord, estimate?: { tokens: number }, admission: AdmissionLimits = NO_LIMITS, now = Date.now()): Promise<AdmissionVerdict> {
    if (estimate === undefined) {
      await this.redis.multi().hset(this.keys.job(record.id), toHash(record)).zadd(this.keys.tenantJobs(record.tenant), record.createdAt, record.id).exec();
      return 'OK';
    }
    // One script: the tenant's admission limits are checked and the job counted (stats, its tenant's
    // unfinished jobs, the staged bytes of its upload moved into the queued backlog) atomically.
    const fields = Object.entries(toHash(record)).flat();
    const verdict = (await this.redis.eval(
      CREATE_JOB, 5, this.keys.job(record.id), this.keys.tenantJobs(record.tenant), this.keys.stats(), this.keys.stagingBytes(), this.keys.stagingExpiry(),
      record.id, record.tenant, record.createdAt, record.state, Math.max(0, Math.round(estimate.tokens)), admission.maxActiveJobs, admission.maxBacklogBytes, now, ...fields,
    )) as AdmissionVerdict;
    return verdict;
  }

  /** Admission before an upload is read: would a new job of this tenant be accepted now? */
  async admissionCheck(tenant: string, limits: AdmissionLimits, now = Date.now()): Promise<AdmissionVerdict> {
    if (limits.maxActiveJobs <= 0 && limits.maxBacklogBytes <= 0) return 'OK';
    return (await this.redis.eval(ADMISSION_CHECK, 3, this.keys.stats(), this.keys.stagingBytes(), this.keys.stagingExpiry(), tenant, limits.maxActiveJobs, limits.maxBacklogBytes, now)) as AdmissionVerdict;
  }

  /** Removes a job record and its list entry: undoes a submission that failed while enqueueing its shards. */
  async delete(id: string, tenant: string): Promise<void> {
    await this.redis.eval(DELETE_JOB, 4, this.keys.job(id), this.keys.doneShards(id), this.keys.tenantJobs(tenant), this.keys.stats(), id);
  }

  async get(id: string): Promise<JobRecord | null> {
    return fromHash(await this.redis.hgetall(this.keys.job(id)));
  }

  async getState(id: string): Promise<JobState | null> {
    return (await this.redis.hget(this.keys.job(id), 'state')) as JobState | null;
  }

  /** Newest first. */
  async list(tenant: string, offset: number, limit: number): Promise<{ jobs: JobRecord[]; total: number }> {
    const key = this.keys.tenantJobs(tenant);
    const [ids, total] = await Promise.all([this.redis.zrevrange(key, offset, offset + limit - 1), this.redis.zcard(key)]);
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.hgetall(this.keys.job(id));
    const rows = (await pipeline.exec()) ?? [];
    const jobs = rows.map(([, hash]) => fromHash(hash as Record<string, string>)).filter((j): j is JobRecord => j !== null);
    return { jobs, total };
  }

  async markRunning(id: string, now = Date.now()): Promise<JobState | null> {
    const state = (await this.redis.eval(MARK_RUNNING, 2, this.keys.job(id), this.keys.stats(), now)) as string;
    return state === '' ? null : (state as JobState);
  }

  /** `estTokens`: the shard's ingest estimate (payload.estTokens), which leaves the backlog with it. */
  async completeShard(id: string, shard: number, outcome: ShardOutcome, now = Date.now(), estTokens = 0): Promise<ShardCountResult> {
    const { succeeded, failed, truncated, tokens } = outcome;
    const reply = await this.redis.eval(
      COMPLETE_SHARD, 4, this.keys.job(id), this.keys.doneShards(id), this.keys.stats(), this.keys.webhookOutbox(),
      shard, succeeded, failed, truncated, tokens, now, estTokens, id,
    );
    return COUNT_RESULTS[String(reply)];
  }

  async failShard(id: string, shard: number, itemCount: number, reason: string, now = Date.now(), estTokens = 0): Promise<ShardCountResult> {
    const reply = await this.redis.eval(
      FAIL_SHARD, 4, this.keys.job(id), this.keys.doneShards(id), this.keys.stats(), this.keys.webhookOutbox(),
      shard, 0, itemCount, 0, 0, now, reason, estTokens, id,
    );
    return COUNT_RESULTS[String(reply)];
  }

  /** Returns the state before the call; only queued and running jobs change. */
  async cancel(id: string, now = Date.now()): Promise<JobState | null> {
    const before = (await this.redis.eval(CANCEL_JOB, 3, this.keys.job(id), this.keys.stats(), this.keys.webhookOutbox(), now, id)) as string;
    return before === '' ? null : (before as JobState);
  }

  /** The job's webhook delivery is queued (or it needs none): it leaves the outbox. */
  async webhookQueued(id: string): Promise<void> {
    await this.redis.zrem(this.keys.webhookOutbox(), id);
  }

  /** Outbox entries due at or before `dueBefore` (ms): terminal jobs whose delivery nobody confirmed queueing. */
  async webhooksDue(dueBefore: number, limit = 100): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.webhookOutbox(), '-inf', dueBefore, 'LIMIT', 0, limit);
  }

  async isShardDone(id: string, shard: number): Promise<boolean> {
    return (await this.redis.sismember(this.keys.doneShards(id), String(shard))) === 1;
  }

  // --- staging: a job's shards wait here until its whole upload has validated ---

  /**
   * Stages a shard and counts its bytes in the upload's share of the backlog. False (nothing
   * written) when that would take staged + queued bytes past `maxBacklogBytes` (0 = no limit).
   */
  async stageShard(id: string, shard: number, payload: string, maxBacklogBytes = 0, now = Date.now()): Promise<boolean> {
    const reply = await this.redis.eval(
      STAGE_SHARD, 4, this.keys.stagedShard(id, shard), this.keys.stats(), this.keys.stagingBytes(), this.keys.stagingExpiry(),
      payload, STAGING_TTL_SECONDS, id, Buffer.byteLength(payload, 'utf8'), maxBacklogBytes, now,
    );
    return Number(reply) === 1;
  }

  async takeStagedShard(id: string, shard: number): Promise<string | null> {
    return this.redis.get(this.keys.stagedShard(id, shard));
  }

  /**
   * Records ids with the line they came from and returns the first id already seen, if any.
   * The id index lives in Redis, not in the API's memory, so a corpus of any size keeps API memory flat.
   */
  async claimIds(id: string, entries: ReadonlyArray<{ id: string; line: number }>): Promise<{ id: string; line: number; firstLine: number } | null> {
    if (entries.length === 0) return null;
    const key = this.keys.stagedIds(id);
    const pipeline = this.redis.pipeline();
    for (const entry of entries) pipeline.hsetnx(key, entry.id, entry.line);
    pipeline.expire(key, STAGING_TTL_SECONDS);
    const replies = (await pipeline.exec()) ?? [];
    const index = replies.findIndex(([, reply], i) => i < entries.length && reply === 0);
    if (index < 0) return null;
    const duplicate = entries[index];
    const firstLine = Number(await this.redis.hget(key, duplicate.id));
    return { ...duplicate, firstLine };
  }

  async dropStaging(id: string, shardCount: number): Promise<void> {
    // Its bytes leave the backlog first (already done by create() when the job was accepted), so
    // once no staged key is left, nothing of the upload is.
    await this.redis.multi().hdel(this.keys.stagingBytes(), id).zrem(this.keys.stagingExpiry(), id).exec();
    const keys = [this.keys.stagedIds(id)];
    for (let shard = 0; shard < shardCount; shard++) keys.push(this.keys.stagedShard(id, shard));
    for (let i = 0; i < keys.length; i += 500) await this.redis.unlink(...keys.slice(i, i + 500));
  }
}
