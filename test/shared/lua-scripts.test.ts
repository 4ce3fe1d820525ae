import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JOB_SCRIPT_NAMES, JOB_SCRIPTS, type JobScriptName } from '../../libs/shared/src/jobs/job-scripts.js';
import { releaseLock, renewLock, defineScripts, loadScripts } from '#shared';
import { DIST, ROOT } from '../support/dist.js';
import { startRedis, type RedisHandle } from '../support/redis-server.js';

/**
 * Each Lua script run directly on a real Redis with raw KEYS and ARGV, as its header describes them: the
 * job scripts (libs/shared/src/jobs/lua), the locks (libs/shared/src/lua/locks) and the API's token bucket
 * (apps/api/src/auth/lua). The JobStore and API tests go through the same scripts; these pin the scripts.
 */
let server: RedisHandle;
let redis: Redis;
let p: string;

type Call = (...keysAndArgs: Array<string | number>) => Promise<unknown>;
const run = (name: JobScriptName, ...keysAndArgs: Array<string | number>) => (redis as unknown as Record<string, Call>)[`t_${name}`]!(...keysAndArgs);

beforeAll(async () => {
  server = await startRedis();
  redis = new Redis(server.url);
  defineScripts(redis, JOB_SCRIPTS, 't_');
});
afterAll(async () => {
  redis?.disconnect();
  await server?.stop();
});
beforeEach(() => {
  p = `lua${randomUUID().slice(0, 8)}`;
});

const job = (id = 'j') => `${p}:job:${id}`;
const done = (id = 'j') => `${p}:job:${id}:done`;
const list = () => `${p}:tenant:t:jobs`;
const stats = () => `${p}:stats`;
const outbox = () => `${p}:outbox`;
const expiry = () => `${p}:expiry`;
const usage = (day = '2026-12-03') => `${p}:usage:${day}`;
const hash = async (key: string) => redis.hgetall(key);
const num = async (key: string, field: string) => Number((await redis.hget(key, field)) ?? 0);

/** createJob with no budgets: a job of `texts` texts in `shards` shards, estimated at `estTokens`. */
async function create(id: string, texts: number, shards: number, estTokens: number, extra: Record<string, string | number> = {}) {
  const fields = Object.entries({
    id,
    tenant: 't',
    state: 'queued',
    total: texts,
    succeeded: 0,
    failed: 0,
    truncated: 0,
    tokens: 0,
    shardsTotal: shards,
    shardsDone: 0,
    shardsFailed: 0,
    ...extra,
  }).flat();
  return run('createJob', job(id), list(), stats(), id, 't', 1000, 'queued', estTokens, 0, 0, 0, texts, ...fields);
}

describe('the script loader', () => {
  it('loads every job script, with its KEYS count from the file name and its includes in place', () => {
    expect(JOB_SCRIPTS.map((s) => s.name).sort()).toEqual([...JOB_SCRIPT_NAMES].sort());
    const byName = Object.fromEntries(JOB_SCRIPTS.map((s) => [s.name, s]));
    expect(Object.fromEntries(JOB_SCRIPTS.map((s) => [s.name, s.numberOfKeys]))).toEqual({
      createJob: 3,
      checkAdmission: 1,
      deleteJob: 5,
      markRunning: 2,
      completeShard: 6,
      failShard: 5,
      cancelJob: 4,
    });
    for (const script of JOB_SCRIPTS) expect(script.lua).not.toMatch(/@include/);
    // finishIfLastShard includes accountJob, which completeShard gets once.
    expect(byName.completeShard!.lua.match(/local function accountJob/g)).toHaveLength(1);
    expect(byName.completeShard!.lua).toMatch(/local function finishIfLastShard/);
    expect(byName.deleteJob!.lua).not.toMatch(/local function/);
  });

  it('includes nested files once, and names an include cycle and a missing folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sw-lua-'));
    try {
      await writeFile(join(dir, 'a.lua'), '--- @include "b"\nlocal function a() end\n');
      await writeFile(join(dir, 'b.lua'), 'local function b() end\n');
      await writeFile(join(dir, 'twice-0.lua'), '--- @include "a"\n--- @include "b"\nreturn 1\n');
      await writeFile(join(dir, 'README.md'), 'not a script');
      const [twice] = loadScripts(pathToFileURL(`${dir}/`));
      expect(twice).toEqual({ name: 'twice', numberOfKeys: 0, lua: 'local function b() end\n\nlocal function a() end\n\n\nreturn 1\n' });

      await writeFile(join(dir, 'b.lua'), '--- @include "a"\n');
      expect(() => loadScripts(pathToFileURL(`${dir}/`))).toThrow(/include cycle: twice-0.lua -> a.lua -> b.lua -> a.lua/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(() => loadScripts(pathToFileURL(join(dir, 'gone/')))).toThrow(/npm run build/);
  });

  it.skipIf(!existsSync(DIST))('is built with every .lua file next to its compiled loader (npm run build)', () => {
    const sources = ['apps', 'libs'].flatMap((root) =>
      readdirSync(join(ROOT, root), { recursive: true, encoding: 'utf8' })
        .filter((f) => f.endsWith('.lua'))
        .map((f) => join(root, f)),
    );
    expect(sources.length).toBeGreaterThanOrEqual(14);
    for (const file of sources) expect(existsSync(join(DIST, file)), `${file} in ${DIST}`).toBe(true);
  });

  it('runs a script by its SHA, and again after Redis forgot it', async () => {
    const sha = createHash('sha1')
      .update(JOB_SCRIPTS.find((s) => s.name === 'markRunning')!.lua)
      .digest('hex');
    await redis.script('FLUSH');
    expect(await run('markRunning', job(), stats(), 1)).toBe('');
    expect(await redis.script('EXISTS', sha)).toEqual([1]);
    await redis.script('FLUSH');
    expect(await run('markRunning', job(), stats(), 1)).toBe('');
  });
});

describe('createJob-3 and checkAdmission-1', () => {
  it('writes the record, lists it, and counts it in the stats', async () => {
    expect(await create('a', 30, 3, 300)).toEqual(['OK', '', 0, 0]);
    expect(await hash(job('a'))).toMatchObject({ id: 'a', state: 'queued', acct: '1', estTokens: '300', estDone: '0', blTexts: '30', blTokens: '300', admitted: '1' });
    expect(await redis.zscore(list(), 'a')).toBe('1000');
    expect(await hash(stats())).toEqual({ 'jobs:queued': '1', 'active:t': '1', 'backlog:texts': '30', 'backlog:texts:t': '30', 'backlog:tokens': '300' });
  });

  it('refuses, writing nothing, a job over a budget while there is a backlog', async () => {
    await create('a', 30, 3, 300);
    const limited = (id: string, texts: number, maxActive: number, maxQueued: number, maxTenantQueued: number) =>
      run('createJob', job(id), list(), stats(), id, 't', 1000, 'queued', 10, maxActive, maxQueued, maxTenantQueued, texts, 'id', id, 'state', 'queued', 'total', texts);
    expect(await limited('b', 1, 1, 0, 0)).toEqual(['TOO_MANY_JOBS', '', 0, 1]);
    expect(await limited('b', 21, 0, 50, 0)).toEqual(['BACKLOG_FULL', 'global', 30, 50]);
    expect(await limited('b', 11, 0, 0, 40)).toEqual(['BACKLOG_FULL', 'tenant', 30, 40]);
    expect(await redis.exists(job('b'))).toBe(0);
    expect(await redis.zcard(list())).toBe(1);
    expect(await limited('b', 20, 2, 50, 50)).toEqual(['OK', '', 0, 0]);
    expect(await num(stats(), 'backlog:texts')).toBe(50);
  });

  it('checks admission for a job of one text, and admits anything on an empty backlog', async () => {
    expect(await run('checkAdmission', stats(), 't', 1, 10, 10)).toEqual(['OK', '', 0, 0]);
    await create('big', 500, 1, 5000);
    expect(await run('checkAdmission', stats(), 't', 0, 500, 0)).toEqual(['BACKLOG_FULL', 'global', 500, 500]);
    expect(await run('checkAdmission', stats(), 't', 0, 501, 0)).toEqual(['OK', '', 0, 0]);
    expect(await run('checkAdmission', stats(), 't', 0, 0, 100)).toEqual(['BACKLOG_FULL', 'tenant', 500, 100]);
    expect(await run('checkAdmission', stats(), 'other', 0, 0, 100)).toEqual(['OK', '', 0, 0]);
    expect(await run('checkAdmission', stats(), 't', 1, 0, 0)).toEqual(['TOO_MANY_JOBS', '', 0, 1]);
  });
});

describe('markRunning-2', () => {
  it('moves a queued job to running once, and answers the state of any other', async () => {
    await create('a', 30, 3, 300);
    expect(await run('markRunning', job('a'), stats(), 5000)).toBe('running');
    expect(await hash(job('a'))).toMatchObject({ state: 'running', startedAt: '5000' });
    expect(await hash(stats())).toMatchObject({ 'jobs:queued': '0', 'jobs:running': '1' });
    expect(await run('markRunning', job('a'), stats(), 6000)).toBe('running');
    expect(await redis.hget(job('a'), 'startedAt')).toBe('5000');
    expect(await run('markRunning', job('missing'), stats(), 6000)).toBe('');
  });
});

describe('completeShard-6 and failShard-5', () => {
  const complete = (id: string, shard: number, ok: number, bad: number, tokens: number, now: number, est: number) =>
    run('completeShard', job(id), done(id), stats(), outbox(), expiry(), usage(), shard, ok, bad, 1, tokens, now, est, id);
  const fail = (id: string, shard: number, count: number, now: number, est: number) =>
    run('failShard', job(id), done(id), stats(), outbox(), expiry(), shard, count, 'out of attempts', now, est, id);

  it('counts each shard once, recalibrates the backlog, and finishes the job on its last shard', async () => {
    await create('a', 30, 3, 300, { callbackUrl: 'https://example.test/hook', expiresAfter: 60 });
    await run('markRunning', job('a'), stats(), 1);
    expect(await complete('a', 0, 10, 0, 200, 2, 100)).toBe(1);
    // 20 texts left; 200 of 300 estimated tokens left, at 200 real per 100 estimated.
    expect(await hash(job('a'))).toMatchObject({
      succeeded: '10',
      truncated: '1',
      tokens: '200',
      shardsDone: '1',
      estDone: '100',
      calEst: '100',
      calReal: '200',
      blTexts: '20',
      blTokens: '400',
    });
    expect(await complete('a', 0, 10, 0, 200, 3, 100)).toBe(0);
    expect(await num(job('a'), 'succeeded')).toBe(10);

    expect(await fail('a', 1, 10, 4, 100)).toBe(1);
    // A failed shard leaves the backlog but does not calibrate: 100 estimated left, at 2x.
    expect(await hash(job('a'))).toMatchObject({ failed: '10', shardsFailed: '1', error: 'out of attempts', calEst: '100', blTexts: '10', blTokens: '200' });
    expect(await fail('a', 1, 10, 4, 100)).toBe(0);

    expect(await complete('a', 2, 9, 1, 100, 5, 100)).toBe(2);
    expect(await hash(job('a'))).toMatchObject({ state: 'completed', finishedAt: '5', startedAt: '1', blTexts: '0', blTokens: '0', expiresAt: '60005' });
    expect(await redis.zscore(outbox(), 'a')).toBe('5');
    expect(await redis.zscore(expiry(), 'a')).toBe('60005');
    expect(await hash(stats())).toEqual({
      'jobs:queued': '0',
      'jobs:running': '0',
      'jobs:completed': '1',
      'active:t': '0',
      'backlog:texts': '0',
      'backlog:texts:t': '0',
      'backlog:tokens': '0',
    });
  });

  it('fails a job none of whose texts succeeded, and sets startedAt if no shard marked it running', async () => {
    await create('b', 10, 1, 50);
    expect(await fail('b', 0, 10, 7, 0)).toBe(2);
    expect(await hash(job('b'))).toMatchObject({ state: 'failed', startedAt: '7', finishedAt: '7', estDone: '0' });
    // Neither a callback URL nor a retention: no outbox or expiry entry.
    expect(await redis.exists(outbox(), expiry())).toBe(0);
    expect(await hash(stats())).toMatchObject({ 'jobs:queued': '0', 'jobs:failed': '1', 'active:t': '0', 'backlog:texts': '0' });
  });

  it('answers -1 for an unknown job, and counts late shards of a finished job without changing its state', async () => {
    expect(await complete('gone', 0, 1, 0, 1, 1, 0)).toBe(-1);
    expect(await fail('gone', 0, 1, 1, 0)).toBe(-1);
    expect(await redis.exists(done('gone'))).toBe(0);

    await create('c', 20, 2, 0);
    expect(await run('cancelJob', job('c'), stats(), outbox(), expiry(), 3, 'c')).toBe('queued');
    expect(await complete('c', 0, 10, 0, 50, 4, 0)).toBe(1);
    expect(await hash(job('c'))).toMatchObject({ state: 'cancelled', succeeded: '10', blTexts: '0' });
  });

  it("bills a shard's usage to its tenant and model once, in the step that counts it, and keeps the day for the TTL", async () => {
    await create('u', 20, 2, 0, { modelId: 'org/model|v2' });
    const bill = (shard: number, texts: number, tokens: number) =>
      run('completeShard', job('u'), done('u'), stats(), outbox(), expiry(), usage(), shard, texts, 1, 0, tokens + 7, 5, 0, 'u', 0, texts, tokens, 3600);
    expect(await bill(0, 9, 90)).toBe(1);
    // The same shard again (a retry whose first run was presumed dead): nothing moves.
    expect(await bill(0, 9, 90)).toBe(0);
    expect(await hash(usage())).toEqual({ 'texts|t|org/model|v2': '9', 'tokens|t|org/model|v2': '90' });
    expect(await bill(1, 10, 100)).toBe(2);
    expect(await hash(usage())).toEqual({ 'texts|t|org/model|v2': '19', 'tokens|t|org/model|v2': '190' });
    expect(await hash(job('u'))).toMatchObject({ usageTokens: '190', tokens: '204' });
    const ttl = await redis.ttl(usage());
    expect(ttl).toBeGreaterThan(3500);
    expect(ttl).toBeLessThanOrEqual(3600);
    // Without the usage arguments (callers that bill nothing) the ledger is untouched.
    await create('v', 5, 1, 0);
    expect(await complete('v', 0, 5, 0, 50, 6, 0)).toBe(2);
    expect(await redis.hlen(usage())).toBe(2);
  });

  it('leaves records older than the accounting (no acct) out of the stats', async () => {
    await redis.hset(job('old'), { id: 'old', state: 'queued', total: 5, succeeded: 0, failed: 0, shardsTotal: 1, shardsDone: 0 });
    expect(await complete('old', 0, 5, 0, 10, 1, 10)).toBe(2);
    expect(await redis.hget(job('old'), 'state')).toBe('completed');
    expect(await redis.exists(stats())).toBe(0);
  });
});

describe('cancelJob-4', () => {
  it('cancels a queued or running job, ends it, and takes its remainder out of the backlog', async () => {
    await create('a', 30, 3, 300, { callbackUrl: 'https://example.test/hook', expiresAfter: 1 });
    await run('markRunning', job('a'), stats(), 1);
    expect(await run('cancelJob', job('a'), stats(), outbox(), expiry(), 9, 'a')).toBe('running');
    expect(await hash(job('a'))).toMatchObject({ state: 'cancelled', finishedAt: '9', blTexts: '0', blTokens: '0', expiresAt: '1009' });
    expect(await redis.zscore(outbox(), 'a')).toBe('9');
    expect(await redis.zscore(expiry(), 'a')).toBe('1009');
    expect(await hash(stats())).toMatchObject({ 'jobs:running': '0', 'jobs:cancelled': '1', 'active:t': '0', 'backlog:texts': '0', 'backlog:tokens': '0' });
  });

  it('answers the state of a job that is not queued or running, and changes nothing', async () => {
    await create('a', 10, 1, 0);
    await run('completeShard', job('a'), done('a'), stats(), outbox(), expiry(), usage(), 0, 10, 0, 0, 0, 2, 0, 'a');
    expect(await run('cancelJob', job('a'), stats(), outbox(), expiry(), 9, 'a')).toBe('completed');
    expect(await redis.hget(job('a'), 'finishedAt')).toBe('2');
    expect(await run('cancelJob', job('missing'), stats(), outbox(), expiry(), 9, 'missing')).toBe('');
    expect(await redis.exists(job('missing'))).toBe(0);
  });
});

describe('deleteJob-5', () => {
  it('removes an unfinished job, its list and expiry entries, and its share of the stats', async () => {
    await create('keep', 5, 1, 50);
    await create('a', 30, 3, 300);
    await run('markRunning', job('a'), stats(), 1);
    await redis.sadd(done('a'), '0');
    await redis.zadd(expiry(), 5, 'a');
    expect(await run('deleteJob', job('a'), done('a'), list(), stats(), expiry(), 'a')).toBe(1);
    expect(await redis.exists(job('a'), done('a'))).toBe(0);
    expect(await redis.zrange(list(), '0', '-1')).toEqual(['keep']);
    expect(await redis.zscore(expiry(), 'a')).toBeNull();
    expect(await hash(stats())).toEqual({ 'jobs:queued': '1', 'jobs:running': '0', 'active:t': '1', 'backlog:texts': '5', 'backlog:texts:t': '5', 'backlog:tokens': '50' });
  });

  it('takes a finished job out of its state count only, and an unaccounted one out of nothing', async () => {
    await create('a', 10, 1, 10);
    await run('completeShard', job('a'), done('a'), stats(), outbox(), expiry(), usage(), 0, 10, 0, 0, 10, 2, 10, 'a');
    expect(await run('deleteJob', job('a'), done('a'), list(), stats(), expiry(), 'a')).toBe(1);
    expect(await hash(stats())).toEqual({ 'jobs:queued': '0', 'jobs:completed': '0', 'active:t': '0', 'backlog:texts': '0', 'backlog:texts:t': '0', 'backlog:tokens': '0' });

    await redis.hset(job('old'), { id: 'old', state: 'queued' });
    expect(await run('deleteJob', job('old'), done('old'), list(), stats(), expiry(), 'old')).toBe(1);
    expect(await redis.exists(job('old'))).toBe(0);
    expect(await num(stats(), 'jobs:queued')).toBe(0);
  });
});

describe('releaseLock-1 and renewLock-1', () => {
  it('release and renew a lock only for its holder', async () => {
    const key = `${p}:lock`;
    await redis.set(key, 'mine', 'PX', 10_000);
    expect(await renewLock(redis, key, 'theirs', 60_000)).toBe(false);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(10_000);
    expect(await renewLock(redis, key, 'mine', 60_000)).toBe(true);
    expect(await redis.pttl(key)).toBeGreaterThan(10_000);
    expect(await releaseLock(redis, key, 'theirs')).toBe(false);
    expect(await redis.get(key)).toBe('mine');
    expect(await releaseLock(redis, key, 'mine')).toBe(true);
    expect(await redis.exists(key)).toBe(0);
    expect(await releaseLock(redis, key, 'mine')).toBe(false);
    expect(await renewLock(redis, key, 'mine', 1000)).toBe(false);
  });
});

describe('tokenBucket-1', () => {
  const bucket = loadScripts(new URL('../../apps/api/src/auth/lua/', import.meta.url));
  beforeAll(() => defineScripts(redis, bucket, 't_'));
  const take = (key: string, rate: number, burst: number, cost: number) =>
    (redis as unknown as Record<string, Call>).t_tokenBucket!(key, rate, burst, cost) as Promise<[number, number]>;

  it('starts full, takes tokens until the burst is spent, then says how long to wait', async () => {
    expect(bucket.map((s) => [s.name, s.numberOfKeys])).toEqual([['tokenBucket', 1]]);
    const key = `${p}:bucket`;
    // 1 token per second, burst 3: three requests pass at once, the fourth waits about a second.
    for (let i = 0; i < 3; i++) expect(await take(key, 1, 3, 1)).toEqual([1, 0]);
    const [allowed, wait] = await take(key, 1, 3, 1);
    expect(allowed).toBe(0);
    expect(wait).toBeGreaterThan(900);
    expect(wait).toBeLessThanOrEqual(1000);
    // A cost larger than what is left waits for the difference; the bucket expires once it would be full.
    const [, waitFor2] = await take(key, 1, 3, 2);
    expect(waitFor2).toBeGreaterThan(1900);
    expect(await redis.pttl(key)).toBeGreaterThan(3000);
    expect(await redis.pttl(key)).toBeLessThanOrEqual(4000);
  });

  it('refills at the rate', async () => {
    const key = `${p}:bucket`;
    expect(await take(key, 10, 1, 1)).toEqual([1, 0]);
    expect((await take(key, 10, 1, 1))[0]).toBe(0);
    await new Promise((r) => setTimeout(r, 150));
    expect((await take(key, 10, 1, 1))[0]).toBe(1);
  });
});
