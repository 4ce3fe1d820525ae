import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { ConfigError } from '../errors/config.error.js';
import { FaultyObjectStore, faultOptionsFromEnv } from './faulty-object-store.js';
import { FsObjectStore } from './fs-object-store.js';
import type { Redis } from 'ioredis';
import { MeteredObjectStore } from './metered-object-store.js';
import type { ObjectStore } from './object-store.interface.js';
import { createS3Client, probeS3Bucket } from './s3-client.js';
import { S3ObjectStore } from './s3-object-store.js';
import { parseStoreUrl, type StoreLocation } from './store-url.js';

export interface ObjectStoreSettings {
  RESULTS_DIR: string;
  /** `file:///folder` or `s3://bucket/prefix`; unset = RESULTS_DIR. */
  STORE_URL?: string;
  S3_ENDPOINT?: string;
  S3_REGION?: string;
  S3_FORCE_PATH_STYLE?: boolean;
  /** TEST ONLY: fault injection (faulty-object-store.ts). */
  SHARDWISE_FAULT_STORE_WRITE?: string;
  SHARDWISE_FAULT_STORE_READ?: string;
  SHARDWISE_FAULT_STORE_READ_DELAY_MS?: string;
  SHARDWISE_FAULT_STORE_KEYS?: string;
  /** TEST ONLY: the first N writes of each shard result fail (the worker's older switch, kept for its tests). */
  SHARDWISE_FAULT_RESULT_WRITE?: number;
}

/**
 * The object store of the environment, checked at boot: a folder that is missing or read-only, or a
 * bucket that cannot be reached, read, listed or written, stops the process with a message naming
 * STORE_URL (or RESULTS_DIR), instead of failing every job later.
 */
export async function createObjectStore(env: ObjectStoreSettings, meter?: { redis: Redis; key: string }): Promise<ObjectStore> {
  let store = await openStore(env);
  const faults = faultOptionsFromEnv(env as unknown as Record<string, string | undefined>);
  if (faults !== undefined) store = new FaultyObjectStore(store, faults);
  if ((env.SHARDWISE_FAULT_RESULT_WRITE ?? 0) > 0) store = new FaultyObjectStore(store, { failWrites: env.SHARDWISE_FAULT_RESULT_WRITE, keyPattern: /\/results\// });
  // Metered outermost (shardwise_store_bytes / _objects): what a fault refused is not counted.
  if (meter !== undefined) store = new MeteredObjectStore(store, meter.redis, meter.key);
  return store;
}

async function openStore(env: ObjectStoreSettings): Promise<ObjectStore> {
  const location: StoreLocation = env.STORE_URL === undefined ? { scheme: 'file', root: env.RESULTS_DIR } : parseStoreUrl(env.STORE_URL);
  const setting = env.STORE_URL === undefined ? `RESULTS_DIR=${JSON.stringify(env.RESULTS_DIR)}` : `STORE_URL=${JSON.stringify(env.STORE_URL)}`;
  if (location.scheme === 'file') {
    // Most likely a forgotten STORE_URL: the bucket settings would otherwise be ignored without a word.
    const s3Settings = (['S3_ENDPOINT', 'S3_REGION', 'S3_FORCE_PATH_STYLE'] as const).filter((name) => env[name] !== undefined && env[name] !== false);
    if (s3Settings.length > 0) {
      throw new ConfigError([`${s3Settings.join(', ')} set, but the store is a folder (${setting}): set STORE_URL=s3://bucket/prefix, or unset them`]);
    }
    return openFolder(location.root, setting);
  }
  const client = createS3Client({ endpoint: env.S3_ENDPOINT, region: env.S3_REGION, forcePathStyle: env.S3_FORCE_PATH_STYLE });
  try {
    const { conditionalWrites } = await probeS3Bucket(client, location.bucket, location.prefix);
    if (!conditionalWrites) {
      process.emitWarning(
        `${setting}: the service ignores If-None-Match on writes, so "first writer wins" is a check before and after each write, which two writers of one key at the same moment can both pass (see s3-object-store.ts)`,
        { code: 'SHARDWISE_S3_NO_CONDITIONAL_WRITES' },
      );
    }
    return new S3ObjectStore({ client, bucket: location.bucket, prefix: location.prefix, conditionalWrites });
  } catch (error) {
    client.destroy();
    const where = env.S3_ENDPOINT === undefined ? '' : ` at S3_ENDPOINT=${JSON.stringify(env.S3_ENDPOINT)}`;
    throw new Error(`${setting}${where} is not a usable store: ${(error as Error).message}`, { cause: error });
  }
}

async function openFolder(folder: string, setting: string): Promise<ObjectStore> {
  const root = resolve(folder);
  try {
    await mkdir(root, { recursive: true });
    await access(root, constants.W_OK);
  } catch (error) {
    throw new Error(`${setting} is not a writable folder: ${(error as Error).message}`);
  }
  return new FsObjectStore(root);
}
