import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Provider } from '@nestjs/common';
import { JobStore, LocalResultStore, RESULT_STORE, type ResultStore } from '../../../../libs/shared/src/index.js';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { RedisService } from '../redis/redis.service.js';

export const jobStoreProvider: Provider = {
  provide: JobStore,
  inject: [RedisService, WORKER_ENV],
  useFactory: (redis: RedisService, env: WorkerEnv) => new JobStore(redis.client, env.REDIS_PREFIX),
};

export const resultStoreProvider: Provider = {
  provide: RESULT_STORE,
  inject: [WORKER_ENV],
  // A missing or read-only volume should stop the worker at boot, not fail every shard later.
  useFactory: async (env: WorkerEnv): Promise<ResultStore> => {
    const root = resolve(env.RESULTS_DIR);
    try {
      await mkdir(root, { recursive: true });
      await access(root, constants.W_OK);
    } catch (error) {
      throw new Error(`RESULTS_DIR=${JSON.stringify(env.RESULTS_DIR)} is not a writable folder: ${(error as Error).message}`);
    }
    // SHARDWISE_FAULT_RESULT_WRITE is a test-only fault injection (failing writes, as on a full disk).
    return new LocalResultStore(root, { faultWritesPerShard: env.SHARDWISE_FAULT_RESULT_WRITE });
  },
};
