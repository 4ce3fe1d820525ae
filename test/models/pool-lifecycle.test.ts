/**
 * InferencePool lifecycle: option validation, state errors, device and model
 * errors, abort, thread crash and replacement, close.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AbortError,
  DeviceUnavailableError,
  InferencePool,
  InvalidEncodeOptionsError,
  InvalidModelError,
  InvalidPoolOptionsError,
  PoolStateError,
  ThreadCrashedError,
  UnknownModelError,
  UnsupportedDtypeError,
  UnsupportedTaskError,
  type InferencePoolOptions,
} from '#models';
import type { ThreadScheduler } from '../../libs/models/src/thread-scheduler.js';
import { ensureThreadBuild, ensureTinyModels, maxAbsDiff, mixedTexts, modelId } from './fixtures.js';

let modelDir: string;
const base = (): InferencePoolOptions => ({ threads: 2, intraOpThreads: 1, device: 'cpu', dtype: 'fp32', modelDir, maxBatchTokens: 256, maxBatchSize: 4 });
const schedulerOf = (pool: InferencePool): ThreadScheduler => (pool as unknown as { scheduler: ThreadScheduler }).scheduler;

beforeAll(async () => {
  ensureThreadBuild();
  modelDir = await ensureTinyModels();
}, 180_000);

describe('before start', () => {
  it('validates options in the constructor without spawning anything', () => {
    expect(() => new InferencePool({ ...base(), threads: 0 })).toThrow(InvalidPoolOptionsError);
    expect(() => new InferencePool({ ...base(), maxBatchTokens: 1.5 })).toThrow(/maxBatchTokens must be a positive integer/);
    expect(() => new InferencePool({ ...base(), device: 'tpu' as 'cpu' })).toThrow(/device must be one of/);
    expect(() => new InferencePool({ ...base(), dtype: 'int4' as 'fp32' })).toThrow(/dtype must be one of/);
  });
  it('refuses load/encode before start()', async () => {
    const pool = new InferencePool(base());
    await expect(pool.load(modelId('bert', 'embed'), 'embed')).rejects.toThrow(PoolStateError);
    await expect(pool.encode({ modelId: modelId('bert', 'embed'), task: 'embed', texts: ['x'], options: {} })).rejects.toThrow(/await pool.start\(\)/);
    await pool.close();
  });
  it('fails start() with an actionable error when CUDA is not installed', async () => {
    const pool = new InferencePool({ ...base(), device: 'cuda' });
    const started = pool.start();
    await expect(started).rejects.toThrow(DeviceUnavailableError);
    await expect(started).rejects.toThrow(/cuda.*(onnxruntime-node-install=cuda12|linux-x64)/s);
    await pool.close();
  });
});

describe('running pool', () => {
  let pool: InferencePool;
  beforeAll(async () => {
    pool = new InferencePool(base());
    await pool.start();
    await pool.load(modelId('bert', 'embed'), 'embed');
  }, 60_000);
  afterAll(async () => {
    await pool?.close();
  });

  it('reports model errors with their own types', async () => {
    await expect(pool.load('../etc', 'embed')).rejects.toThrow(InvalidModelError);
    await expect(pool.load('shardwise-random/none', 'embed')).rejects.toThrow(UnknownModelError);
    await expect(pool.encode({ modelId: '/etc/passwd', task: 'embed', texts: ['x'], options: {} })).rejects.toThrow(InvalidModelError);
    await expect(pool.load(modelId('bert', 'embed'), 'sentiment')).rejects.toThrow(UnsupportedTaskError);
    const fp16 = new InferencePool({ ...base(), threads: 1, dtype: 'fp16' });
    await fp16.start();
    await expect(fp16.load(modelId('bert', 'embed'), 'embed')).rejects.toThrow(UnsupportedDtypeError);
    await fp16.close();
  });

  it('validates encode options and texts', async () => {
    const req = { modelId: modelId('bert', 'embed'), task: 'embed' as const, texts: ['x'] };
    await expect(pool.encode({ ...req, options: { topK: 0 } })).rejects.toThrow(InvalidEncodeOptionsError);
    await expect(pool.encode({ ...req, options: { pooling: 'max' as 'mean' } })).rejects.toThrow(/pooling/);
    await expect(pool.encode({ ...req, texts: ['a', 3 as unknown as string], options: {} })).rejects.toThrow(/texts\[1\]/);
    expect((await pool.encode({ ...req, texts: [], options: {} })).results).toEqual([]);
  });

  it('rejects with AbortError when aborted, and keeps working afterwards', async () => {
    const req = { modelId: modelId('bert', 'embed'), task: 'embed' as const, texts: mixedTexts(300, 11), options: {} };
    await expect(pool.encode({ ...req, signal: AbortSignal.abort() })).rejects.toThrow(AbortError);
    const controller = new AbortController();
    const running = pool.encode({ ...req, signal: controller.signal });
    setTimeout(() => controller.abort(new Error('shard lost its lock')), 5);
    const error = await running.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AbortError);
    expect((error as AbortError).name).toBe('AbortError');
    const after = await pool.encode({ ...req, texts: ['still fine'] });
    expect(after.results[0]?.ok).toBe(true);
  });

  it('rejects in-flight work when a thread crashes, replaces the thread and recovers', async () => {
    const req = { modelId: modelId('bert', 'embed'), task: 'embed' as const, texts: mixedTexts(300, 12), options: {} };
    const before = await pool.encode({ ...req, texts: ['probe text'] });
    const inflight = pool.encode({ ...req, texts: mixedTexts(1500, 13) });
    await new Promise((r) => setTimeout(r, 50));
    // The crash request itself is in flight when the thread dies, so it must be rejected.
    const crash = await schedulerOf(pool).crashThread(0);
    expect(crash).toBeInstanceOf(ThreadCrashedError);
    expect((crash as Error).message).toMatch(/inference thread 0 crashed \(exited with code 70\).*replaced/);
    const error = await inflight.then(
      () => null,
      (e: unknown) => e,
    );
    // A batch of this request was almost surely on thread 0; if the crash fell between its jobs, it succeeds.
    if (error !== null) expect(error).toBeInstanceOf(ThreadCrashedError);
    await expect
      .poll(
        () =>
          schedulerOf(pool)
            .describe()
            .every((t) => t.alive),
        { timeout: 10_000 },
      )
      .toBe(true);
    const again = await pool.encode({ ...req, texts: ['probe text'] });
    const emb = (r: (typeof again.results)[number] | undefined): Float32Array => (r as { embedding: Float32Array }).embedding;
    expect(maxAbsDiff(emb(again.results[0]), emb(before.results[0]))).toBeLessThan(1e-5);
    const full = await pool.encode(req);
    expect(full.results.every((r) => r.ok)).toBe(true);
  });

  it('runs fp16 weights (model_fp16.onnx) close to fp32', async () => {
    const out = mkdtempSync(join(tmpdir(), 'shardwise-fp16-'));
    try {
      const { generateModels } = await import('../../tools/model-generator/index.js');
      await generateModels({ out, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32', 'fp16'] });
      const texts = ['half precision weights', '', 'x '.repeat(300)];
      const run = async (dtype: 'fp32' | 'fp16'): Promise<Float32Array[]> => {
        const p = new InferencePool({ ...base(), threads: 1, dtype, modelDir: out });
        await p.start();
        try {
          const { results } = await p.encode({ modelId: modelId('bert', 'embed'), task: 'embed', texts, options: {} });
          return results.map((r) => (r as { embedding: Float32Array }).embedding);
        } finally {
          await p.close();
        }
      };
      const [full, half] = [await run('fp32'), await run('fp16')];
      full.forEach((e, i) => {
        const cosine = e.reduce((sum, x, h) => sum + x * (half[i]?.[h] ?? NaN), 0);
        expect(cosine).toBeGreaterThan(0.99);
      });
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  it('close() is idempotent and later calls fail clearly', async () => {
    const other = new InferencePool({ ...base(), threads: 1 });
    await other.start();
    await other.close();
    await other.close();
    await expect(other.load(modelId('bert', 'embed'), 'embed')).rejects.toThrow(/pool is closed/);
    await expect(other.start()).rejects.toThrow(PoolStateError);
  });
});
