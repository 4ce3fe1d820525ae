/**
 * InferencePool is the one memo of loaded models: a model is loaded in each thread once, concurrent
 * loads share that load, and a failed load is not kept (the next call tries again).
 */
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InferencePool, UnknownModelError, type InferencePoolOptions } from '#models';
import type { ThreadScheduler } from '../../libs/models/src/thread-scheduler.js';
import { ensureThreadBuild, ensureTinyModels, modelId } from './fixtures.js';

let sourceDir: string;
let modelDir: string;
const base = (): InferencePoolOptions => ({ threads: 2, intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir, maxBatchTokens: 256, maxBatchSize: 4 });

/** Counts the load requests the pool broadcasts to its threads. */
function countLoads(pool: InferencePool): { count: number } {
  const scheduler = (pool as unknown as { scheduler: ThreadScheduler }).scheduler;
  const counter = { count: 0 };
  const broadcast = scheduler.broadcast.bind(scheduler);
  scheduler.broadcast = ((request: Parameters<ThreadScheduler['broadcast']>[0]) => {
    if (request.type === 'load') counter.count++;
    return broadcast(request);
  }) as ThreadScheduler['broadcast'];
  return counter;
}

beforeAll(async () => {
  ensureThreadBuild();
  sourceDir = await ensureTinyModels();
  modelDir = mkdtempSync(join(tmpdir(), 'shardwise-model-cache-'));
}, 180_000);

afterAll(() => {
  rmSync(modelDir, { recursive: true, force: true });
});

describe('one model cache', () => {
  it('shares concurrent loads, keeps the loaded model, and retries a load that failed', async () => {
    const id = modelId('bert', 'embed');
    const pool = new InferencePool(base());
    await pool.start();
    try {
      const loads = countLoads(pool);
      // Not there yet: the failure is not remembered.
      await expect(pool.load(id, 'embed')).rejects.toThrow(UnknownModelError);
      cpSync(join(sourceDir, id), join(modelDir, id), { recursive: true });

      const [a, b] = await Promise.all([pool.load(id, 'embed'), pool.load(id, 'embed')]);
      expect(a).toEqual(b);
      expect(loads.count).toBe(1);
      const { results } = await pool.encode({ modelId: id, task: 'embed', texts: ['one', 'two', 'three'], options: {} });
      expect(results.every((r) => r.ok)).toBe(true);
      await pool.load(id, 'embed');
      expect(loads.count).toBe(1);
    } finally {
      await pool.close();
    }
  });
});
