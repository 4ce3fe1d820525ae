import { Global, Module } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { createObjectStore, JobKeys, OBJECT_STORE, ResultStore, type ObjectStore } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { REDIS } from '../redis/redis.tokens.js';
import { FileCatalog } from './file-catalog.repository.js';
import { StoreJanitorService } from './store-janitor.service.js';

/**
 * The object store (inputs, results, files) and the repositories over it. A store that is not
 * usable stops the API at boot, naming RESULTS_DIR.
 */
@Global()
@Module({
  providers: [
    {
      provide: OBJECT_STORE,
      inject: [API_ENV, REDIS],
      useFactory: (env: ApiEnv, redis: Redis): Promise<ObjectStore> => createObjectStore(env, { redis, key: new JobKeys(env.REDIS_PREFIX).storeCounters() }),
    },
    { provide: ResultStore, inject: [OBJECT_STORE], useFactory: (objects: ObjectStore) => new ResultStore(objects) },
    FileCatalog,
    StoreJanitorService,
  ],
  exports: [OBJECT_STORE, ResultStore, FileCatalog, StoreJanitorService],
})
export class StorageModule {}
