import type { Redis } from 'ioredis';
import type { JobState } from '../jobs/job-record.js';

/**
 * Queue-wide operational numbers kept in Redis, so every API replica reports the same values:
 *
 * - `${prefix}:stats`, a hash the JobStore's scripts keep exact: `jobs:<state>` (jobs in each state)
 *   and `backlog:texts` / `backlog:tokens` (unfinished work of every queued or running job; see
 *   jobs/lua/includes/accountJob.lua for how each job's share is estimated, corrected and removed).
 * - worker throughput reports: each worker publishes the tokens it finished and the seconds it was
 *   busy over its recent window to `${prefix}:worker:<id>:throughput` (with a TTL), indexed by the
 *   sorted set `${prefix}:workers:throughput` (score: when the report expires).
 */
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'completed', 'failed', 'cancelled'];

/** Below this many busy seconds across all reports, the measured rate is noise: the default is used. */
export const MIN_MEASURED_BUSY_SECONDS = 1;

export interface ThroughputReport {
  /** Tokens of the shards this worker finished in its window. */
  tokens: number;
  /** Seconds within the window with at least one shard in flight. */
  busySeconds: number;
  /** Length of the window the numbers cover. */
  windowSeconds: number;
}

export interface OpsSnapshot {
  jobs: Record<JobState, number>;
  backlogTexts: number;
  backlogTokens: number;
  /** Workers with a live (unexpired) throughput report. */
  reportingWorkers: number;
  reportedTokens: number;
  reportedBusySeconds: number;
  /** What the reporting workers finish together: the sum of each one's tokens over its window. */
  fleetTokensPerSecond: number;
  /** Bytes and objects this installation holds in the object store (metered-object-store.ts). */
  storeBytes: number;
  storeObjects: number;
}

export interface AutoscaleSignal {
  /** Tokens per second one busy worker finishes: measured across reports, else the configured default. */
  tokensPerSecond: number;
  measured: boolean;
  /** Seconds one worker would need to finish the backlog. */
  workerSeconds: number;
}

export class OpsStore {
  private readonly statsKey: string;
  private readonly workersKey: string;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.statsKey = `${prefix}:stats`;
    this.workersKey = `${prefix}:workers:throughput`;
  }

  private reportKey(worker: string): string {
    return `${this.prefix}:worker:${worker}:throughput`;
  }

  async publishThroughput(worker: string, report: ThroughputReport, ttlSeconds: number, now = Date.now()): Promise<void> {
    await this.redis
      .multi()
      .set(this.reportKey(worker), JSON.stringify(report), 'EX', ttlSeconds)
      .zadd(this.workersKey, now + ttlSeconds * 1000, worker)
      .zremrangebyscore(this.workersKey, '-inf', now)
      .exec();
  }

  /** A worker that stops takes its report back: it no longer adds throughput. */
  async withdrawThroughput(worker: string): Promise<void> {
    await this.redis.multi().unlink(this.reportKey(worker)).zrem(this.workersKey, worker).exec();
  }

  async snapshot(now = Date.now()): Promise<OpsSnapshot> {
    const [stats, workers, store] = await Promise.all([
      this.redis.hgetall(this.statsKey),
      this.redis.zrangebyscore(this.workersKey, now, '+inf'),
      this.redis.hgetall(`${this.prefix}:store`),
    ]);
    const reports = workers.length === 0 ? [] : await this.redis.mget(...workers.map((w) => this.reportKey(w)));
    let reportingWorkers = 0;
    let reportedTokens = 0;
    let reportedBusySeconds = 0;
    let fleetTokensPerSecond = 0;
    for (const raw of reports) {
      const report = parseReport(raw);
      if (report === null) continue;
      reportingWorkers++;
      reportedTokens += report.tokens;
      reportedBusySeconds += report.busySeconds;
      if (report.windowSeconds > 0) fleetTokensPerSecond += report.tokens / report.windowSeconds;
    }
    const num = (field: string) => Number(stats[field] ?? 0) || 0;
    const jobs = Object.fromEntries(JOB_STATES.map((state) => [state, num(`jobs:${state}`)])) as Record<JobState, number>;
    return {
      jobs,
      backlogTexts: num('backlog:texts'),
      backlogTokens: num('backlog:tokens'),
      reportingWorkers,
      reportedTokens,
      reportedBusySeconds,
      fleetTokensPerSecond,
      storeBytes: Math.max(0, Number(store.bytes ?? 0) || 0),
      storeObjects: Math.max(0, Number(store.objects ?? 0) || 0),
    };
  }
}

/**
 * The autoscaling signal: backlog tokens / tokens per second per worker. The rate is the tokens all
 * reporting workers finished divided by the seconds they were busy (a busy-time weighted mean, so
 * an idle worker neither lowers nor raises it); with too little measured busy time it is
 * `defaultTokensPerSecond`, so a backlog with no worker running still asks for workers.
 */
export function autoscaleSignal(snapshot: OpsSnapshot, defaultTokensPerSecond: number): AutoscaleSignal {
  const measured = snapshot.reportedBusySeconds >= MIN_MEASURED_BUSY_SECONDS && snapshot.reportedTokens > 0;
  const tokensPerSecond = measured ? snapshot.reportedTokens / snapshot.reportedBusySeconds : defaultTokensPerSecond;
  return { tokensPerSecond, measured, workerSeconds: Math.max(0, snapshot.backlogTokens) / tokensPerSecond };
}

/**
 * Seconds until `texts` more texts fit a budget that the backlog `queued` is over, at the rate the
 * workers finish work now (their measured tokens per second, converted with the backlog's tokens per
 * text); while no worker reports a rate, `defaultTokensPerSecond` per worker (at least one), as the
 * autoscaling signal assumes. Between 1 second and an hour.
 */
export function secondsUntilAdmitted(snapshot: OpsSnapshot, queued: number, texts: number, budget: number, defaultTokensPerSecond: number): number {
  // A job larger than the budget waits for an empty backlog; others for enough room.
  const toDrain = texts > budget ? queued : queued + texts - budget;
  const tokensPerText = snapshot.backlogTexts > 0 ? Math.max(1, snapshot.backlogTokens / snapshot.backlogTexts) : 1;
  const rate = snapshot.fleetTokensPerSecond > 0 ? snapshot.fleetTokensPerSecond : defaultTokensPerSecond * Math.max(1, snapshot.reportingWorkers);
  return Math.min(3600, Math.max(1, Math.ceil((Math.max(0, toDrain) * tokensPerText) / rate)));
}

function parseReport(raw: string | null): ThroughputReport | null {
  if (raw === null) return null;
  try {
    const value = JSON.parse(raw) as Partial<ThroughputReport>;
    const tokens = Number(value.tokens);
    const busySeconds = Number(value.busySeconds);
    if (!(tokens >= 0) || !(busySeconds >= 0)) return null;
    return { tokens, busySeconds, windowSeconds: Number(value.windowSeconds) || 0 };
  } catch {
    return null;
  }
}
