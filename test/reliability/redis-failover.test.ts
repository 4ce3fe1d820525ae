import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { API_ENTRY, startApp, WORKER_ENTRY, type AppProcess } from '../support/app-process.js';
import type { RedisHandle } from '../support/redis-server.js';
import { startRedis } from '../support/redis-server.js';
import { startReplicatedRedis, type ReplicatedRedis } from '../support/redis-replicated.js';
import { finished, freePort, MODEL_DIR, postJob, resultsOf, sleep, summary, tally, TINY_EMBED, waitFor } from '../support/stack.js';

const TEXTS_PER_JOB = 10;

/**
 * kill -9 of the Redis primary while jobs are submitted and processed: the Sentinels promote the
 * replica, the API and the worker follow it, and the old primary comes back as the new replica.
 * With REDIS_MIN_REPLICAS_ACK=1 every job answered 202 completes with every item once, in order;
 * submissions that no replica could hold are refused with 503 and Retry-After.
 */
describe.each([
  { replicas: 1 as const, name: 'one replica; the old primary comes back as the new replica' },
  { replicas: 2 as const, name: 'two replicas; the old primary stays down' },
])('Redis primary killed (Sentinel failover), $name', ({ replicas }) => {
  let ha: ReplicatedRedis;
  let revived: RedisHandle | undefined;
  let resultsDir: string;
  const apps: AppProcess[] = [];

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    ha = await startReplicatedRedis({ replicas });
    resultsDir = await mkdtemp(join(tmpdir(), 'sw-results-'));
  });

  afterAll(async () => {
    for (const app of apps) await app.stop('SIGKILL').catch(() => undefined);
    await revived?.stop();
    await ha?.stop();
    if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
  });

  it('loses and duplicates nothing that was acknowledged; refuses with 503 meanwhile', async () => {
    const common = {
      REDIS_URL: 'redis://127.0.0.1:1',
      ...ha.env,
      MODEL_DIR,
      RESULTS_DIR: resultsDir,
      REDIS_MIN_REPLICAS_ACK: '1',
      REDIS_REPLICA_ACK_TIMEOUT_MS: '500',
    };
    const apiPort = await freePort();
    const api = await startApp(API_ENTRY, { ...common, PORT: String(apiPort), SHARD_MAX_TEXTS: '5' }, apiPort, 60_000);
    apps.push(api);
    const workerPort = await freePort();
    const worker = await startApp(
      WORKER_ENTRY,
      { ...common, WORKER_PORT: String(workerPort), INFERENCE_ENGINE: 'noop-test-only', SHARDWISE_ALLOW_NOOP_ENGINE: '1', WORKER_CONCURRENCY: '2', SHARD_LOCK_MS: '5000' },
      workerPort,
    );
    apps.push(worker);

    const accepted: string[] = [];
    const refused: { at: number; code: string; retryAfter: string | null }[] = [];
    const other: string[] = [];
    let killedAt = 0;
    let firstAcceptedAfterKill = 0;
    let stop = false;
    const submitting = (async () => {
      for (let n = 0; !stop; n++) {
        const inputs = Array.from({ length: TEXTS_PER_JOB }, (_, i) => `job ${n} text ${i}`);
        try {
          const reply = await postJob(api.baseUrl, { task: 'embed', model: TINY_EMBED, inputs });
          if (reply.status === 202) {
            accepted.push(reply.body.id as string);
            if (killedAt > 0 && firstAcceptedAfterKill === 0) firstAcceptedAfterKill = Date.now();
          } else if (reply.status === 503) {
            refused.push({ at: Date.now(), code: (reply.body as { error: { code: string } }).error.code, retryAfter: reply.headers.get('retry-after') });
          } else other.push(`${reply.status} ${JSON.stringify(reply.body)}`);
        } catch (error) {
          other.push((error as Error).message);
        }
        await sleep(50);
      }
    })();

    await sleep(2000);
    const oldPort = ha.primary.port;
    killedAt = Date.now();
    await ha.primary.stop(); // SIGKILL
    const deadline = Date.now() + 30_000;
    while ((await ha.currentPrimaryPort().catch(() => oldPort)) === oldPort) {
      if (Date.now() > deadline) throw new Error('the Sentinels did not promote the replica within 30 s');
      await sleep(100);
    }
    const promotedAt = Date.now();
    // With one replica, the old primary comes back (empty: its volume is gone too) and the Sentinels make
    // it the new replica; with two, the other replica follows the promoted one.
    const newPort = await ha.currentPrimaryPort();
    if (replicas === 1) revived = await startRedis({ port: oldPort, appendonly: true });
    const follower = revived ?? ha.replicas.find((r) => r.port !== newPort)!;
    const followerClient = new Redis(follower.url, { maxRetriesPerRequest: null });
    while (!/master_link_status:up/.test(await followerClient.info('replication')) && Date.now() < deadline + 30_000) await sleep(100);
    const replicatingAt = Date.now();
    followerClient.disconnect();
    while (firstAcceptedAfterKill === 0 && Date.now() < deadline + 30_000) await sleep(100);
    await sleep(2000);
    stop = true;
    await submitting;

    expect(other, 'answers other than 202 and 503').toEqual([]);
    expect(firstAcceptedAfterKill, 'a submission accepted after the failover').toBeGreaterThan(0);
    for (const refusal of refused) {
      expect(['REDIS_NOT_REPLICATED', 'REDIS_UNAVAILABLE']).toContain(refusal.code);
      expect(refusal.retryAfter).toBe('5');
    }
    const items = Array.from({ length: TEXTS_PER_JOB }, (_, i) => ({ id: String(i) }));
    let lost = 0;
    let duplicated = 0;
    let misplaced = 0;
    for (const id of accepted) {
      const job = await waitFor(api.baseUrl, id, finished, { timeoutMs: 120_000 });
      expect(job.state, `job ${id}`).toBe('completed');
      const counted = summary(tally(items, await resultsOf(api.baseUrl, id)));
      lost += counted.lost;
      duplicated += counted.duplicated;
      misplaced += counted.misplaced;
    }
    const reachedNewPrimary = refused.find((r) => r.code === 'REDIS_NOT_REPLICATED' && r.at > killedAt)?.at;
    console.log(
      `[reliability] Redis failover (${replicas} replica${replicas === 1 ? '' : 's'}): promoted ${promotedAt - killedAt} ms after kill -9, API on the new primary by ${reachedNewPrimary === undefined ? '-' : reachedNewPrimary - killedAt} ms, ` +
        `${replicas === 1 ? 'old primary' : 'other replica'} replicating from it at ${replicatingAt - killedAt} ms, first 202 after ${firstAcceptedAfterKill - killedAt} ms; ` +
        `${accepted.length} jobs accepted (${accepted.length * TEXTS_PER_JOB} items), ${refused.length} submissions refused with 503 ` +
        `(${[...new Set(refused.map((r) => r.code))].join(', ')}); ` +
        `shard counts sent back unconfirmed ${worker.output().split('counted again').length - 1}; lost ${lost}, duplicated ${duplicated}, misplaced ${misplaced}`,
    );
    expect({ lost, duplicated, misplaced }).toEqual({ lost: 0, duplicated: 0, misplaced: 0 });
  }, 240_000);
});
