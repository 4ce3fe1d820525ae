import { constants } from 'node:fs';
import { access, mkdir } from 'node:fs/promises';
import { resolve } from 'node:path';
import { FaultyObjectStore, faultOptionsFromEnv } from './faulty-object-store.js';
import { FsObjectStore } from './fs-object-store.js';
import type { ObjectStore } from './object-store.interface.js';

export interface ObjectStoreSettings {
  RESULTS_DIR: string;
  /** TEST ONLY: fault injection (faulty-object-store.ts). */
  SHARDWISE_FAULT_STORE_WRITE?: string;
  SHARDWISE_FAULT_STORE_READ?: string;
  SHARDWISE_FAULT_STORE_READ_DELAY_MS?: string;
  SHARDWISE_FAULT_STORE_KEYS?: string;
  /** TEST ONLY: the first N writes of each shard result fail (the worker's older switch, kept for its tests). */
  SHARDWISE_FAULT_RESULT_WRITE?: number;
}

/**
 * The object store of the environment, checked at boot: a missing or read-only folder stops the
 * process with a message naming RESULTS_DIR, instead of failing every job later.
 */
export async function createObjectStore(env: ObjectStoreSettings): Promise<ObjectStore> {
  const root = resolve(env.RESULTS_DIR);
  try {
    await mkdir(root, { recursive: true });
    await access(root, constants.W_OK);
  } catch (error) {
    throw new Error(`RESULTS_DIR=${JSON.stringify(env.RESULTS_DIR)} is not a writable folder: ${(error as Error).message}`);
  }
  let store: ObjectStore = new FsObjectStore(root);
  const faults = faultOptionsFromEnv(env as unknown as Record<string, string | undefined>);
  if (faults !== undefined) store = new FaultyObjectStore(store, faults);
  if ((env.SHARDWISE_FAULT_RESULT_WRITE ?? 0) > 0) store = new FaultyObjectStore(store, { failWrites: env.SHARDWISE_FAULT_RESULT_WRITE, keyPattern: /\/results\// });
  return store;
}
