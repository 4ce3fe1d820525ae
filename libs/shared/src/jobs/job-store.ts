import type { Redis } from 'ioredis';
import { fromHash, toHash, type JobRecord, type JobState } from './job-record.js';
import { JobKeys } from './job-keys.js';
import { JOB_SCRIPTS, type JobScriptName } from './job-scripts.js';
import { defineScripts } from '../lua/script-loader.js';
import type { ShardOutcome } from '../queue/shard-payload.js';
import { usageDay, type ShardUsage } from '../usage/usage-ledger.js';

export type ShardCountResult = 'unknown-job' | 'already-counted' | 'counted' | 'job-finished';
const COUNT_RESULTS: Record<string, ShardCountResult> = { '-1': 'unknown-job', '0': 'already-counted', '1': 'counted', '2': 'job-finished' };

/** Admission budgets of one tenant (0 = none); see lua/includes/checkBudgets.lua. */
export interface AdmissionLimits {
  /** Unfinished jobs the tenant may have (MAX_CONCURRENT_JOBS / max_concurrent_jobs). */
  maxActiveJobs: number;
  /** Texts of unfinished jobs, all tenants (ADMISSION_MAX_QUEUED_TEXTS). */
  maxQueuedTexts: number;
  /** Texts of this tenant's unfinished jobs (TENANT_MAX_QUEUED_TEXTS / max_queued_texts). */
  maxTenantQueuedTexts: number;
}

/** OK, or why a job is refused; for BACKLOG_FULL, which budget and how many texts it holds. */
export type AdmissionVerdict =
  | { verdict: 'OK' }
  | { verdict: 'TOO_MANY_JOBS'; limit: number }
  | { verdict: 'BACKLOG_FULL'; scope: 'global' | 'tenant'; queued: number; budget: number };
export type AdmissionRefusal = Exclude<AdmissionVerdict, { verdict: 'OK' }>;
const NO_LIMITS: AdmissionLimits = { maxActiveJobs: 0, maxQueuedTexts: 0, maxTenantQueuedTexts: 0 };

function toVerdict(reply: unknown): AdmissionVerdict {
  const [verdict, scope, queued, budget] = reply as [string, string, number, number];
  if (verdict === 'OK') return { verdict: 'OK' };
  if (verdict === 'TOO_MANY_JOBS') return { verdict, limit: Number(budget) };
  return { verdict: 'BACKLOG_FULL', scope: scope === 'tenant' ? 'tenant' : 'global', queued: Number(queued), budget: Number(budget) };
}

/** The scripts as commands of the connection (KEYS first, then ARGV): see defineScripts. */
type ScriptCommands = Record<`sw_${JobScriptName}`, (...keysAndArgs: Array<string | number>) => Promise<unknown>>;

/** Redis repository for job records: the only code that reads or writes them. */
export class JobStore {
  readonly keys: JobKeys;
  private readonly scripts: ScriptCommands;

  /** `usageRetentionSeconds`: how long a day of the usage ledger is kept after its last update (0: forever). */
  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly usageRetentionSeconds = 0,
  ) {
    this.keys = new JobKeys(prefix);
    defineScripts(redis, JOB_SCRIPTS, 'sw_');
    this.scripts = redis as unknown as ScriptCommands;
  }

  /** Runs a script by its SHA (its text goes to Redis once, not with every call). */
  private run(name: JobScriptName, ...keysAndArgs: Array<string | number>): Promise<unknown> {
    return this.scripts[`sw_${name}`](...keysAndArgs);
  }

  /**
   * With `estimate` (the ingest estimate of the job's tokens, see ops/token-estimate.ts) the job is
   * counted in the queue-wide stats (jobs per state, backlog texts and tokens) from now until it
   * ends, and admitted against `admission` (lua/createJob-3.lua): nothing is written unless OK.
   */
  async create(record: JobRecord, estimate?: { tokens: number }, admission: AdmissionLimits = NO_LIMITS): Promise<AdmissionVerdict> {
    if (estimate === undefined) {
      await this.redis.multi().hset(this.keys.job(record.id), toHash(record)).zadd(this.keys.tenantJobs(record.tenant), record.createdAt, record.id).exec();
      return { verdict: 'OK' };
    }
    const fields = Object.entries(toHash(record)).flat();
    const reply = await this.run(
      'createJob',
      this.keys.job(record.id),
      this.keys.tenantJobs(record.tenant),
      this.keys.stats(),
      record.id,
      record.tenant,
      record.createdAt,
      record.state,
      Math.max(0, Math.round(estimate.tokens)),
      admission.maxActiveJobs,
      admission.maxQueuedTexts,
      admission.maxTenantQueuedTexts,
      record.total,
      ...fields,
    );
    return toVerdict(reply);
  }

  /** Admission before an upload is read: would a new job of this tenant (of one text) be accepted now? */
  async admissionCheck(tenant: string, limits: AdmissionLimits): Promise<AdmissionVerdict> {
    if (limits.maxActiveJobs <= 0 && limits.maxQueuedTexts <= 0 && limits.maxTenantQueuedTexts <= 0) return { verdict: 'OK' };
    return toVerdict(await this.run('checkAdmission', this.keys.stats(), tenant, limits.maxActiveJobs, limits.maxQueuedTexts, limits.maxTenantQueuedTexts));
  }

  /** Removes a job record and its list entry: undoes a submission that failed while enqueueing its shards. */
  async delete(id: string, tenant: string): Promise<void> {
    await this.run('deleteJob', this.keys.job(id), this.keys.doneShards(id), this.keys.tenantJobs(tenant), this.keys.stats(), this.keys.expiry(), id);
  }

  async get(id: string): Promise<JobRecord | null> {
    return fromHash(await this.redis.hgetall(this.keys.job(id)));
  }

  /** Whether each job has a record, in one pipelined round trip. */
  async existing(ids: readonly string[]): Promise<boolean[]> {
    if (ids.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const id of ids) pipeline.exists(this.keys.job(id));
    const replies = (await pipeline.exec()) ?? [];
    return replies.map(([error, reply]) => {
      if (error) throw error;
      return reply === 1;
    });
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
    const state = (await this.run('markRunning', this.keys.job(id), this.keys.stats(), now)) as string;
    return state === '' ? null : (state as JobState);
  }

  /**
   * `estTokens`: the shard's ingest estimate (payload.estTokens), which leaves the backlog with it.
   * `usage`: what the shard's tenant is billed, added to the day's usage ledger (of `now`) in the same
   * step, so only the run that counts the shard records it.
   */
  async completeShard(id: string, shard: number, outcome: ShardOutcome, now = Date.now(), estTokens = 0, usage?: ShardUsage): Promise<ShardCountResult> {
    const { succeeded, failed, truncated, tokens, deduplicated = 0 } = outcome;
    const usageArgs = usage === undefined ? [] : [usage.texts, usage.tokens, this.usageRetentionSeconds];
    const reply = await this.run(
      'completeShard',
      this.keys.job(id),
      this.keys.doneShards(id),
      this.keys.stats(),
      this.keys.webhookOutbox(),
      this.keys.expiry(),
      this.keys.usageDay(usageDay(now)),
      shard,
      succeeded,
      failed,
      truncated,
      tokens,
      now,
      estTokens,
      id,
      deduplicated,
      ...usageArgs,
    );
    return COUNT_RESULTS[String(reply)];
  }

  async failShard(id: string, shard: number, itemCount: number, reason: string, now = Date.now(), estTokens = 0): Promise<ShardCountResult> {
    const reply = await this.run(
      'failShard',
      this.keys.job(id),
      this.keys.doneShards(id),
      this.keys.stats(),
      this.keys.webhookOutbox(),
      this.keys.expiry(),
      shard,
      itemCount,
      reason,
      now,
      estTokens,
      id,
    );
    return COUNT_RESULTS[String(reply)];
  }

  /** Returns the state before the call; only queued and running jobs change. */
  async cancel(id: string, now = Date.now()): Promise<JobState | null> {
    const before = (await this.run('cancelJob', this.keys.job(id), this.keys.stats(), this.keys.webhookOutbox(), this.keys.expiry(), now, id)) as string;
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

  /** Jobs whose retention ended at or before `now` (ms), oldest first, at most `limit`. */
  async expiredJobs(now: number, limit: number): Promise<string[]> {
    return this.redis.zrangebyscore(this.keys.expiry(), '-inf', now, 'LIMIT', 0, limit);
  }

  /** Takes a job id out of the expiry set (its record is already gone). */
  async forgetExpiry(id: string): Promise<void> {
    await this.redis.zrem(this.keys.expiry(), id);
  }

  async isShardDone(id: string, shard: number): Promise<boolean> {
    return (await this.redis.sismember(this.keys.doneShards(id), String(shard))) === 1;
  }
}
