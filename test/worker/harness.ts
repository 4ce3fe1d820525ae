import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { JobStore, LocalResultStore, loadEnv, workerEnvSchema, type JobRecord, type ShardPayload, type WorkerEnv } from '../../libs/shared/src/index.js';
import { ModelService } from '../../apps/worker/src/inference/model.service.js';
import { WorkerMetricsService } from '../../apps/worker/src/metrics/worker-metrics.service.js';
import { RedisService } from '../../apps/worker/src/redis/redis.service.js';
import { CancelSignalsService } from '../../apps/worker/src/shards/cancel-signals.service.js';
import { ShardFailureService } from '../../apps/worker/src/shards/shard-failure.service.js';
import { ShardProcessorService } from '../../apps/worker/src/shards/shard-processor.service.js';
import { FakePool } from './fake-pool.js';

/** The worker's services wired by hand around a FakePool, against a real Redis and a temp RESULTS_DIR. */
export interface Harness {
  env: WorkerEnv;
  pool: FakePool;
  redis: RedisService;
  jobs: JobStore;
  results: LocalResultStore;
  metrics: WorkerMetricsService;
  models: ModelService;
  cancels: CancelSignalsService;
  processor: ShardProcessorService;
  failures: ShardFailureService;
  close(): Promise<void>;
}

export async function createHarness(redisUrl: string, extraEnv: Record<string, string> = {}): Promise<Harness> {
  Logger.overrideLogger(false); // failure paths log on purpose; keep the test output readable
  const resultsDir = await mkdtemp(join(tmpdir(), 'sw-worker-test-'));
  const env = loadEnv(workerEnvSchema, {
    REDIS_URL: redisUrl,
    REDIS_PREFIX: `t${randomUUID().slice(0, 8)}`,
    RESULTS_DIR: resultsDir,
    WORKER_PORT: '0',
    ...extraEnv,
  });
  const pool = new FakePool();
  const redis = new RedisService(env);
  await redis.onModuleInit();
  const metrics = new WorkerMetricsService();
  const models = new ModelService(pool, env, metrics);
  await models.onApplicationBootstrap();
  const cancels = new CancelSignalsService(redis, env);
  await cancels.onModuleInit();
  const jobs = new JobStore(redis.client, env.REDIS_PREFIX);
  const results = new LocalResultStore(resultsDir);
  const processor = new ShardProcessorService(jobs, results, models, cancels, metrics);
  const failures = new ShardFailureService(jobs, results, metrics);
  return {
    env, pool, redis, jobs, results, metrics, models, cancels, processor, failures,
    close: async () => {
      await models.beforeApplicationShutdown();
      await redis.onApplicationShutdown();
      await rm(resultsDir, { recursive: true, force: true });
    },
  };
}

export function jobRecord(id: string, overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    id, tenant: 'default', task: 'embed', modelId: 'fake/model', options: {}, metadata: null, state: 'queued',
    total: 3, succeeded: 0, failed: 0, truncated: 0, tokens: 0, shardsTotal: 1, shardsDone: 0, shardsFailed: 0,
    dimensions: 4, createdAt: Date.now(), startedAt: null, finishedAt: null, error: null,
    ...overrides,
  };
}

export function shardPayload(jobId: string, overrides: Partial<ShardPayload> = {}): ShardPayload {
  return {
    v: 1, jobId, shard: 0, start: 0, task: 'embed', modelId: 'fake/model', options: {},
    items: [
      { id: 'a', text: 'hello world' },
      { id: 'b', text: 'fail: this one' },
      { id: 'c', text: 'long: cut off' },
    ],
    ...overrides,
  };
}

/** What BullMQ passes to the processor, reduced to what it reads. */
export function fakeJob(data: unknown, attemptsMade = 0, attempts = 3) {
  return { id: 'job-0', data, attemptsMade, opts: { attempts } };
}
