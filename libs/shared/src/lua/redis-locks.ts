import type { Redis } from 'ioredis';
import { defineScripts, loadScripts } from './script-loader.js';

const LOCK_SCRIPTS = loadScripts(new URL('./locks/', import.meta.url));

interface LockCommands {
  sw_releaseLock(key: string, token: string): Promise<number>;
  sw_renewLock(key: string, token: string, ttlMs: number): Promise<number>;
}

function lockCommands(redis: Redis): LockCommands {
  if (typeof (redis as unknown as Partial<LockCommands>).sw_releaseLock !== 'function') defineScripts(redis, LOCK_SCRIPTS, 'sw_');
  return redis as unknown as LockCommands;
}

/** Deletes a lock (`SET key token NX PX ...`) still held by `token`; false when it was not (it expired, or another holder has it). */
export async function releaseLock(redis: Redis, key: string, token: string): Promise<boolean> {
  return (await lockCommands(redis).sw_releaseLock(key, token)) === 1;
}

/** Extends a lock still held by `token` to `ttlMs`; false when it was lost. */
export async function renewLock(redis: Redis, key: string, token: string, ttlMs: number): Promise<boolean> {
  return (await lockCommands(redis).sw_renewLock(key, token, ttlMs)) === 1;
}
