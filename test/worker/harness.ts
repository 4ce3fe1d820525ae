import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Logger } from '@nestjs/common';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { FsObjectStore, jobInputKey, JobStore, loadEnv, ResultStore, workerEnvSchema, type InputItem, type ObjectStore, type ShardPayload, type WorkerEnv } from '#shared';
import { ModelService } from '../../apps/worker/src/inference/model.service.js';
import { WorkerMetricsService } from '../../apps/worker/src/metrics/worker-metrics.service.js';
import { RedisService } from '../../apps/worker/src/redis/redis.service.js';
import { CancelSignalsService } from '../../apps/worker/src/shards/cancel-signals.service.js';
import { ShardFailureService } from '../../apps/worker/src/shards/shard-failure.service.js';
import { ShardProcessorService } from '../../apps/worker/src/shards/shard-processor.service.js';
import { FakePool } from './fake-pool.js';
export { jobRecord } from '../support/job-record.js';
import { startRedis, type RedisHandle } from '../support/redis-server.js';

/** The worker's services wired by hand around a FakePool, against a real Redis and a temp RESULTS_DIR. */
export interface Harness {
  env: WorkerEnv;
  pool: FakePool;
  redis: RedisService;
  jobs: JobStore;
  objects: ObjectStore;
  results: ResultStore;
  metrics: WorkerMetricsService;
  models: ModelService;
  cancels: CancelSignalsService;
  processor: ShardProcessorService;
  failures: ShardFailureService;
  /** Stores `items` as the job's input object (as the API does) and returns the reference to them. */
  shard(jobId: string, overrides?: Partial<ShardPayload>, items?: readonly InputItem[]): Promise<ShardPayload>;
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
  const objects = new FsObjectStore(resultsDir);
  const results = new ResultStore(objects);
  const processor = new ShardProcessorService(jobs, results, objects, models, cancels, metrics);
  const failures = new ShardFailureService(jobs, results, objects, metrics);
  return {
    env,
    pool,
    redis,
    jobs,
    objects,
    results,
    metrics,
    models,
    cancels,
    processor,
    failures,
    shard: (jobId, overrides, items) => storeShard(objects, jobId, overrides, items),
    close: async () => {
      await models.beforeApplicationShutdown();
      await redis.onApplicationShutdown();
      await rm(resultsDir, { recursive: true, force: true });
    },
  };
}

export const DEFAULT_ITEMS: readonly InputItem[] = [
  { id: 'a', text: 'hello world' },
  { id: 'b', text: 'fail: this one' },
  { id: 'c', text: 'long: cut off' },
];

/**
 * Writes `items` as NDJSON to the job's input object, one shard's worth, and returns a shard
 * reference to all of them, as the API would enqueue it.
 */
export async function storeShard(objects: ObjectStore, jobId: string, overrides: Partial<ShardPayload> = {}, items: readonly InputItem[] = DEFAULT_ITEMS): Promise<ShardPayload> {
  const shard = overrides.shard ?? 0;
  const key = `${jobInputKey(jobId).replace(/\.ndjson$/, '')}-${shard}.ndjson`;
  const body = Buffer.from(items.map((item) => `${JSON.stringify(item)}\n`).join(''));
  await objects.put(key, body);
  const info = await objects.stat(key);
  return {
    v: 2,
    jobId,
    shard,
    start: 0,
    count: items.length,
    task: 'embed',
    modelId: 'fake/model',
    options: {},
    input: { key, version: info!.version, format: 'ndjson', start: 0, end: body.length, skip: 0 },
    ...overrides,
  };
}

/** What BullMQ passes to the processor, reduced to what it reads. */
export function fakeJob(data: unknown, attemptsMade = 0, attempts = 3) {
  return { id: 'job-0', data, attemptsMade, opts: { attempts } };
}

/**
 * Registers the hooks of a harness test file: one redis-server for the file, a fresh harness per
 * test, handed to `use` before each test (the file keeps it in its own `let h`).
 */
export function useHarness(use: (harness: Harness) => void): void {
  let server: RedisHandle | undefined;
  let harness: Harness | undefined;
  beforeAll(async () => {
    server = await startRedis();
  });
  afterAll(async () => {
    await server?.stop();
  });
  beforeEach(async () => {
    harness = await createHarness((server as RedisHandle).url);
    use(harness);
  });
  afterEach(async () => {
    await harness?.close();
  });
}
