import type { Provider } from '@nestjs/common';
import { createObjectStore, JobKeys, JobStore, OBJECT_STORE, ReplicaAck, ResultStore, type ObjectStore } from '#shared';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { RedisService } from '../redis/redis.service.js';

export const jobStoreProvider: Provider = {
  provide: JobStore,
  inject: [RedisService, WORKER_ENV],
  useFactory: (redis: RedisService, env: WorkerEnv) => new JobStore(redis.client, env.REDIS_PREFIX, env.USAGE_RETENTION_DAYS * 86_400),
};

/** Shard counts are written on the job store's connection, so that is the one WAIT runs on (REDIS_MIN_REPLICAS_ACK). */
export const replicaAckProvider: Provider = {
  provide: ReplicaAck,
  inject: [RedisService, WORKER_ENV],
  useFactory: (redis: RedisService, env: WorkerEnv) => new ReplicaAck([redis.client], env.REDIS_MIN_REPLICAS_ACK, env.REDIS_REPLICA_ACK_TIMEOUT_MS),
};

/** Inputs are read and results written here; a store that is not usable stops the worker at boot. */
export const objectStoreProvider: Provider = {
  provide: OBJECT_STORE,
  inject: [WORKER_ENV, RedisService],
  useFactory: (env: WorkerEnv, redis: RedisService): Promise<ObjectStore> => createObjectStore(env, { redis: redis.client, key: new JobKeys(env.REDIS_PREFIX).storeCounters() }),
};

export const resultStoreProvider: Provider = {
  provide: ResultStore,
  inject: [OBJECT_STORE],
  useFactory: (objects: ObjectStore) => new ResultStore(objects),
};
