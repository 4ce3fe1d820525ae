import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ActivityWindow } from '../../apps/worker/src/metrics/activity-window.js';
import { autoscaleSignal, estimateShardTokens, estimateTokens, JobStore, OpsStore, secondsUntilAdmitted, type JobRecord, type OpsSnapshot } from '#shared';
import { jobRecord } from '../support/job-record.js';
import { startRedis, type RedisHandle } from '../support/redis-server.js';

/**
 * The queue-wide accounting behind shardwise_jobs, shardwise_queue_backlog_{texts,tokens} and
 * shardwise_backlog_worker_seconds, against a real Redis: the JobStore's Lua scripts keep it exact
 * through every transition, and two API replicas (two connections) read the same numbers.
 */
let server: RedisHandle;
let redis: Redis;
let replica: Redis;
let prefix: string;
let jobs: JobStore;
let ops: OpsStore;

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
  replica = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  replica?.disconnect();
  await server?.stop();
});
beforeEach(() => {
  prefix = `t${randomUUID().slice(0, 8)}`;
  jobs = new JobStore(redis, prefix);
  ops = new OpsStore(redis, prefix);
});

const record = (id: string, overrides: Partial<JobRecord> = {}): JobRecord => jobRecord(id, { modelId: 'm', total: 30, shardsTotal: 3, ...overrides });

const outcome = (texts: number, tokens: number) => ({ succeeded: texts, failed: 0, truncated: 0, tokens });

async function stats(): Promise<Pick<OpsSnapshot, 'jobs' | 'backlogTexts' | 'backlogTokens'>> {
  const { jobs: states, backlogTexts, backlogTokens } = await ops.snapshot();
  return { jobs: states, backlogTexts, backlogTokens };
}

describe('token estimate', () => {
  it('is UTF-8 bytes / 4 plus two special tokens, capped at the model maximum', () => {
    expect(estimateTokens('')).toBe(2);
    expect(estimateTokens('abcd')).toBe(3);
    expect(estimateTokens('abcde')).toBe(4);
    expect(estimateTokens('é'.repeat(8))).toBe(4 + 2); // 16 bytes
    expect(estimateTokens('x'.repeat(10_000), 128)).toBe(128);
    expect(estimateTokens('x'.repeat(10_000))).toBe(512);
    expect(estimateShardTokens([{ text: 'abcd' }, { text: '' }])).toBe(5);
  });
});

describe('queue-wide accounting in Redis', () => {
  it('counts a job from creation to completion and corrects the token estimate with real counts', async () => {
    await jobs.create(record('a'), { tokens: 300 });
    expect(await stats()).toEqual({ jobs: { queued: 1, running: 0, completed: 0, failed: 0, cancelled: 0 }, backlogTexts: 30, backlogTokens: 300 });

    expect(await jobs.markRunning('a')).toBe('running');
    expect((await stats()).jobs).toMatchObject({ queued: 0, running: 1 });

    // Shard 0: estimated 100, really 150 tokens: the other 200 estimated tokens are worth 300.
    expect(await jobs.completeShard('a', 0, outcome(10, 150), Date.now(), 100)).toBe('counted');
    expect(await stats()).toMatchObject({ backlogTexts: 20, backlogTokens: 300 });
    // Counted once, however often it is reported.
    expect(await jobs.completeShard('a', 0, outcome(10, 150), Date.now(), 100)).toBe('already-counted');
    expect(await stats()).toMatchObject({ backlogTexts: 20, backlogTokens: 300 });

    // Shard 1 fails for good: its texts and its estimate leave, the ratio stays (no real count).
    expect(await jobs.failShard('a', 1, 10, 'boom', Date.now(), 120)).toBe('counted');
    expect(await stats()).toMatchObject({ backlogTexts: 10, backlogTokens: Math.round(80 * 1.5) });

    expect(await jobs.completeShard('a', 2, outcome(10, 90), Date.now(), 80)).toBe('job-finished');
    expect(await stats()).toEqual({ jobs: { queued: 0, running: 0, completed: 1, failed: 0, cancelled: 0 }, backlogTexts: 0, backlogTokens: 0 });
  });

  it("takes a cancelled job's unfinished remainder out, and later shards of it change nothing", async () => {
    await jobs.create(record('c'), { tokens: 300 });
    await jobs.create(record('d', { total: 5, shardsTotal: 1 }), { tokens: 50 });
    await jobs.markRunning('c');
    await jobs.completeShard('c', 0, outcome(10, 100), Date.now(), 100);
    expect(await stats()).toMatchObject({ backlogTexts: 25, backlogTokens: 250 });

    expect(await jobs.cancel('c')).toBe('running');
    expect(await stats()).toEqual({ jobs: { queued: 1, running: 0, completed: 0, failed: 0, cancelled: 1 }, backlogTexts: 5, backlogTokens: 50 });
    // A shard that was already running when the job was cancelled still gets counted.
    await jobs.completeShard('c', 1, outcome(10, 100), Date.now(), 100);
    expect(await jobs.cancel('c')).toBe('cancelled');
    expect(await stats()).toMatchObject({ backlogTexts: 5, backlogTokens: 50, jobs: { cancelled: 1, queued: 1 } });
  });

  it('undoes a submission that failed while enqueueing', async () => {
    await jobs.create(record('e'), { tokens: 300 });
    await jobs.delete('e', 'default');
    expect(await jobs.get('e')).toBeNull();
    expect(await stats()).toEqual({ jobs: { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 }, backlogTexts: 0, backlogTokens: 0 });
  });

  it('leaves jobs created without an estimate (records older than the accounting) out of it', async () => {
    await jobs.create(record('old', { shardsTotal: 1, total: 10 }));
    await jobs.markRunning('old');
    await jobs.completeShard('old', 0, outcome(10, 50), Date.now(), 40);
    expect((await jobs.get('old'))?.state).toBe('completed');
    expect(await stats()).toEqual({ jobs: { queued: 0, running: 0, completed: 0, failed: 0, cancelled: 0 }, backlogTexts: 0, backlogTokens: 0 });
  });

  it('reports the same numbers to every API replica', async () => {
    await jobs.create(record('g'), { tokens: 300 });
    const other = new JobStore(replica, prefix);
    await other.markRunning('g');
    await other.completeShard('g', 0, outcome(10, 100), Date.now(), 100);
    const [mine, theirs] = await Promise.all([ops.snapshot(), new OpsStore(replica, prefix).snapshot()]);
    expect(theirs).toEqual(mine);
    expect(mine).toMatchObject({ backlogTexts: 20, backlogTokens: 200 });
  });
});

describe('admission by queued texts', () => {
  const limits = (maxQueuedTexts: number, maxTenantQueuedTexts = 0) => ({ maxActiveJobs: 0, maxQueuedTexts, maxTenantQueuedTexts });
  const tenantTexts = async (tenant: string) => Number((await redis.hget(`${prefix}:stats`, `backlog:texts:${tenant}`)) ?? 0);

  it('admits a job larger than the budget while the backlog is empty, then refuses until it drains', async () => {
    expect(await jobs.create(record('big', { total: 500, shardsTotal: 1 }), { tokens: 5000 }, limits(100))).toEqual({ verdict: 'OK' });
    expect(await jobs.admissionCheck('default', limits(100))).toEqual({ verdict: 'BACKLOG_FULL', scope: 'global', queued: 500, budget: 100 });
    expect(await jobs.create(record('small', { total: 1 }), { tokens: 10 }, limits(100))).toEqual({ verdict: 'BACKLOG_FULL', scope: 'global', queued: 500, budget: 100 });
    // Refused means nothing was written.
    expect(await jobs.get('small')).toBeNull();
    expect((await stats()).backlogTexts).toBe(500);

    await jobs.completeShard('big', 0, outcome(500, 4000), Date.now(), 5000);
    expect(await jobs.admissionCheck('default', limits(100))).toEqual({ verdict: 'OK' });
    expect(await jobs.create(record('small', { total: 60 }), { tokens: 600 }, limits(100))).toEqual({ verdict: 'OK' });
    // 60 queued: 40 more fit, 41 do not.
    expect((await jobs.create(record('fits', { total: 40 }), { tokens: 400 }, limits(100))).verdict).toBe('OK');
    expect((await jobs.create(record('over', { total: 1 }), { tokens: 10 }, limits(100))).verdict).toBe('BACKLOG_FULL');
  });

  it('keeps a budget per tenant, counted through completion, cancel and undo', async () => {
    const a = (id: string, total: number) => record(id, { tenant: 'a', total, shardsTotal: 2 });
    expect((await jobs.create(a('a1', 30), { tokens: 300 }, limits(0, 50))).verdict).toBe('OK');
    expect(await jobs.create(a('a2', 30), { tokens: 300 }, limits(0, 50))).toEqual({ verdict: 'BACKLOG_FULL', scope: 'tenant', queued: 30, budget: 50 });
    expect((await jobs.create(record('b1', { tenant: 'b', total: 30 }), { tokens: 300 }, limits(0, 50))).verdict).toBe('OK');
    expect([await tenantTexts('a'), await tenantTexts('b')]).toEqual([30, 30]);

    await jobs.markRunning('a1');
    await jobs.completeShard('a1', 0, outcome(15, 150), Date.now(), 150);
    expect(await tenantTexts('a')).toBe(15);
    await jobs.cancel('a1');
    expect(await tenantTexts('a')).toBe(0);
    await jobs.delete('b1', 'b');
    expect(await tenantTexts('b')).toBe(0);
    expect((await stats()).backlogTexts).toBe(0);
  });

  it("estimates Retry-After from the workers' measured rate, or the default per worker, within 1 s to an hour", async () => {
    await jobs.create(record('q', { total: 1000, shardsTotal: 10 }), { tokens: 20_000 });
    const idle = await ops.snapshot();
    // Nobody reports: 5,000 tokens/s assumed. 1,000 texts of 20 tokens queued, budget 1,000, 100 more: 100 texts (2,000 tokens) must drain.
    expect(secondsUntilAdmitted(idle, 1000, 100, 1000, 5000)).toBe(1);
    expect(secondsUntilAdmitted(idle, 1000, 100, 1000, 100)).toBe(20);
    // Two workers report 1,000 and 3,000 tokens/s over their windows: 4,000 tokens/s together.
    await ops.publishThroughput('w1', { tokens: 60_000, busySeconds: 60, windowSeconds: 60 }, 30);
    await ops.publishThroughput('w2', { tokens: 180_000, busySeconds: 60, windowSeconds: 60 }, 30);
    const measured = await ops.snapshot();
    expect(measured.fleetTokensPerSecond).toBe(4000);
    expect(secondsUntilAdmitted(measured, 1000, 500, 1000, 1)).toBe(Math.ceil((500 * 20) / 4000));
    // A job larger than the budget waits for the whole backlog.
    expect(secondsUntilAdmitted(measured, 1000, 5000, 1000, 1)).toBe(Math.ceil((1000 * 20) / 4000));
    expect(secondsUntilAdmitted(measured, 10_000_000, 1, 1, 1)).toBe(3600);
  });
});

describe('autoscaling signal', () => {
  it('divides the backlog by the busy-time weighted rate of the reporting workers', async () => {
    await jobs.create(record('h'), { tokens: 60_000 });
    await ops.publishThroughput('w1', { tokens: 30_000, busySeconds: 10, windowSeconds: 300 }, 30);
    await ops.publishThroughput('w2', { tokens: 10_000, busySeconds: 10, windowSeconds: 300 }, 30);
    await ops.publishThroughput('idle', { tokens: 0, busySeconds: 0, windowSeconds: 300 }, 30);
    const snapshot = await ops.snapshot();
    expect(snapshot).toMatchObject({ reportingWorkers: 3, reportedTokens: 40_000, reportedBusySeconds: 20 });
    expect(autoscaleSignal(snapshot, 5000)).toEqual({ tokensPerSecond: 2000, measured: true, workerSeconds: 30 });

    await ops.withdrawThroughput('w1');
    await ops.withdrawThroughput('w2');
    expect(autoscaleSignal(await ops.snapshot(), 5000)).toEqual({ tokensPerSecond: 5000, measured: false, workerSeconds: 12 });
  });

  it('falls back to the configured rate when reports expired (scale from zero)', async () => {
    await jobs.create(record('i'), { tokens: 10_000 });
    await ops.publishThroughput('gone', { tokens: 30_000, busySeconds: 10, windowSeconds: 300 }, 1, Date.now() - 5000);
    const snapshot = await ops.snapshot();
    expect(snapshot.reportingWorkers).toBe(0);
    expect(autoscaleSignal(snapshot, 1000)).toEqual({ tokensPerSecond: 1000, measured: false, workerSeconds: 10 });
  });
});

describe('ActivityWindow', () => {
  it('counts overlapping shards once and only what falls in the window', () => {
    const w = new ActivityWindow(10_000, 0);
    w.start(0);
    w.start(1000); // overlaps
    w.end(2000);
    w.end(3000); // busy 0..3 s
    w.credit(3000, 300);
    w.start(20_000);
    expect(w.snapshot(25_000)).toEqual({ tokens: 0, busySeconds: 5, windowSeconds: 10 });
    w.end(26_000);
    w.credit(26_000, 600);
    expect(w.snapshot(26_000)).toEqual({ tokens: 600, busySeconds: 6, windowSeconds: 10 });
    expect(w.totalBusySeconds(30_000)).toBe(9);
    expect(w.snapshot(5000)).toMatchObject({ windowSeconds: 5 });
  });
});
