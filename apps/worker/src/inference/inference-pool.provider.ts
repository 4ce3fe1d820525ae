import type { Provider } from '@nestjs/common';
import { InferencePool } from '#models';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { INFERENCE_POOL, type InferencePort } from './inference.port.js';
import { NoopInferencePool } from './noop-engine.js';

/** Builds the pool from the environment; it starts its threads later, in ModelService.onApplicationBootstrap. */
export const inferencePoolProvider: Provider = {
  provide: INFERENCE_POOL,
  inject: [WORKER_ENV],
  useFactory: (env: WorkerEnv): InferencePort =>
    // The schema refuses noop-test-only unless SHARDWISE_ALLOW_NOOP_ENGINE=1 confirms it.
    env.INFERENCE_ENGINE === 'noop-test-only'
      ? new NoopInferencePool(env.MODEL_DIR)
      : new InferencePool({
          threads: env.INFERENCE_THREADS,
          intraOpThreads: env.INTRA_OP_THREADS,
          device: env.DEVICE,
          dtype: env.DTYPE,
          q8Mode: env.Q8_MODE,
          modelDir: env.MODEL_DIR,
          hubEndpoint: env.HF_ENDPOINT,
          hubCacheDir: env.HF_CACHE_DIR,
          maxBatchTokens: env.MAX_BATCH_TOKENS,
          maxBatchSize: env.MAX_BATCH_SIZE,
        }),
};
