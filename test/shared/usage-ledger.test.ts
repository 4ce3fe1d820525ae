import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JobStore, UsageLedger, usageDay, usageDays, type JobRecord } from '#shared';
import { startRedis, type RedisHandle } from '../support/redis-server.js';
import { jobRecord } from '../support/job-record.js';

/** The usage ledger written by JobStore.completeShard and read by UsageLedger, on a real Redis. */
let server: RedisHandle;
let redis: Redis;
let prefix: string;
let jobs: JobStore;
let ledger: UsageLedger;

const DAY = 86_400_000;
const MONDAY = Date.parse('2026-11-30T23:59:00Z');
const TUESDAY = Date.parse('2026-12-01T00:01:00Z');

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});
beforeEach(() => {
  prefix = `t${randomUUID().slice(0, 8)}`;
  jobs = new JobStore(redis, prefix, 7 * 86_400);
  ledger = new UsageLedger(redis, prefix);
});

const record = (id: string, tenant: string, modelId: string, shards = 4): JobRecord =>
  jobRecord(id, { tenant, modelId, state: 'running', total: shards * 10, shardsTotal: shards, createdAt: MONDAY, startedAt: MONDAY });
const outcome = (succeeded: number, tokens: number) => ({ succeeded, failed: 10 - succeeded, truncated: 0, tokens });

describe('usage ledger', () => {
  it('keys each shard by the UTC day it was counted, by tenant and model, and bills a shard counted twice once', async () => {
    await jobs.create(record('a', 'acme', 'org/model|v2'));
    await jobs.create(record('b', 'globex', 'm'));
    expect(await jobs.completeShard('a', 0, outcome(10, 120), MONDAY, 0, { texts: 10, tokens: 100 })).toBe('counted');
    expect(await jobs.completeShard('a', 0, outcome(10, 120), TUESDAY, 0, { texts: 10, tokens: 100 })).toBe('already-counted');
    expect(await jobs.completeShard('a', 1, outcome(9, 90), TUESDAY, 0, { texts: 9, tokens: 90 })).toBe('counted');
    expect(await jobs.completeShard('b', 0, outcome(1, 5), TUESDAY, 0, { texts: 1, tokens: 5 })).toBe('counted');
    // Counted without usage (a caller that bills nothing): the ledger does not move.
    expect(await jobs.completeShard('b', 1, outcome(3, 30), TUESDAY)).toBe('counted');

    expect(await ledger.read({ from: '2026-11-30', to: '2026-12-01' })).toEqual([
      { date: '2026-11-30', tenant: 'acme', model: 'org/model|v2', texts: 10, tokens: 100 },
      { date: '2026-12-01', tenant: 'acme', model: 'org/model|v2', texts: 9, tokens: 90 },
      { date: '2026-12-01', tenant: 'globex', model: 'm', texts: 1, tokens: 5 },
    ]);
    expect(await ledger.read({ from: '2026-12-01', to: '2026-12-01', tenant: 'acme' })).toEqual([
      { date: '2026-12-01', tenant: 'acme', model: 'org/model|v2', texts: 9, tokens: 90 },
    ]);
    expect(await ledger.read({ from: '2026-11-01', to: '2026-12-31', model: 'm' })).toEqual([{ date: '2026-12-01', tenant: 'globex', model: 'm', texts: 1, tokens: 5 }]);
    expect(await ledger.read({ from: '2026-11-01', to: '2026-11-29' })).toEqual([]);
    expect((await jobs.get('a'))?.usageTokens).toBe(190);

    // One small hash per day, kept for the retention after its last update.
    const ttl = await redis.ttl(`${prefix}:usage:2026-12-01`);
    expect(ttl).toBeGreaterThan(7 * 86_400 - 60);
    expect(ttl).toBeLessThanOrEqual(7 * 86_400);
    expect(await redis.hlen(`${prefix}:usage:2026-12-01`)).toBe(4);
  });

  it('names days in UTC, month and year ends included', () => {
    expect(usageDay(MONDAY)).toBe('2026-11-30');
    expect(usageDay(TUESDAY)).toBe('2026-12-01');
    expect(usageDays('2026-12-30', '2027-01-02')).toEqual(['2026-12-30', '2026-12-31', '2027-01-01', '2027-01-02']);
    expect(usageDays('2028-02-28', '2028-03-01')).toHaveLength(3);
    expect(usageDays('2026-12-02', '2026-12-01')).toEqual([]);
    expect(usageDays('2026-01-01', usageDay(Date.parse('2026-01-01T00:00:00Z') + 365 * DAY))).toHaveLength(366);
  });
});
