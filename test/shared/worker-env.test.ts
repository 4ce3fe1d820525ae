/** The worker's environment: batch limits default by DEVICE, explicit values win, bad values name the variable. */
import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { BATCH_DEFAULTS, ConfigError, loadEnv, workerEnvSchema } from '#shared';

describe('worker batch limits and threads', () => {
  it('defaults to small batches on CPU and large ones on GPUs', () => {
    expect(loadEnv(workerEnvSchema, {})).toMatchObject({ DEVICE: 'cpu', MAX_BATCH_TOKENS: 512, MAX_BATCH_SIZE: 64 });
    for (const device of ['cuda', 'webgpu'] as const) {
      const env = loadEnv(workerEnvSchema, { DEVICE: device });
      expect(env.MAX_BATCH_TOKENS).toBe(BATCH_DEFAULTS[device].tokens);
      expect(env.MAX_BATCH_SIZE).toBe(BATCH_DEFAULTS[device].texts);
      expect(env.MAX_BATCH_TOKENS).toBeGreaterThan(BATCH_DEFAULTS.cpu.tokens * 16);
      expect(env.INFERENCE_THREADS).toBe(2);
    }
    expect(loadEnv(workerEnvSchema, {}).INFERENCE_THREADS).toBe(Math.min(availableParallelism(), 8));
  });

  it('keeps values that are set, on any device', () => {
    expect(loadEnv(workerEnvSchema, { DEVICE: 'cuda', MAX_BATCH_TOKENS: '4096', MAX_BATCH_SIZE: '32', INFERENCE_THREADS: '1' })).toMatchObject({
      MAX_BATCH_TOKENS: 4096,
      MAX_BATCH_SIZE: 32,
      INFERENCE_THREADS: 1,
    });
    expect(loadEnv(workerEnvSchema, { MAX_BATCH_TOKENS: '2048' })).toMatchObject({ MAX_BATCH_TOKENS: 2048, MAX_BATCH_SIZE: 64 });
  });

  it('rejects bad limits naming the variable', () => {
    expect(() => loadEnv(workerEnvSchema, { MAX_BATCH_TOKENS: '8' })).toThrow(ConfigError);
    expect(() => loadEnv(workerEnvSchema, { MAX_BATCH_TOKENS: '8' })).toThrow(/MAX_BATCH_TOKENS="8"/);
    expect(() => loadEnv(workerEnvSchema, { MAX_BATCH_SIZE: 'many' })).toThrow(/MAX_BATCH_SIZE="many"/);
    expect(() => loadEnv(workerEnvSchema, { INFERENCE_THREADS: '0' })).toThrow(/INFERENCE_THREADS="0"/);
  });
});

describe('Q8_MODE', () => {
  it('defaults to per-token (batch-independent q8) and takes dynamic', () => {
    expect(loadEnv(workerEnvSchema, {}).Q8_MODE).toBe('per-token');
    expect(loadEnv(workerEnvSchema, { Q8_MODE: 'dynamic' }).Q8_MODE).toBe('dynamic');
  });

  it('rejects anything else at boot, naming the variable', () => {
    expect(() => loadEnv(workerEnvSchema, { Q8_MODE: 'per-row' })).toThrow(ConfigError);
    expect(() => loadEnv(workerEnvSchema, { Q8_MODE: 'per-row' })).toThrow(/Q8_MODE="per-row"/);
  });
});

describe('HF_ENDPOINT and HF_CACHE_DIR', () => {
  it('defaults to the Hub, takes a mirror without its trailing slash, and refuses what is not an http(s) URL', () => {
    const defaults = loadEnv(workerEnvSchema, {});
    expect(defaults.HF_ENDPOINT).toBe('https://huggingface.co');
    expect(defaults.HF_CACHE_DIR).toBeUndefined();
    expect(loadEnv(workerEnvSchema, { HF_ENDPOINT: '' }).HF_ENDPOINT).toBe('https://huggingface.co');
    expect(loadEnv(workerEnvSchema, { HF_ENDPOINT: 'http://hub-mirror.internal:8080/hf/', HF_CACHE_DIR: '/var/cache/models' })).toMatchObject({
      HF_ENDPOINT: 'http://hub-mirror.internal:8080/hf',
      HF_CACHE_DIR: '/var/cache/models',
    });
    expect(() => loadEnv(workerEnvSchema, { HF_ENDPOINT: 'hub-mirror.internal' })).toThrow(/HF_ENDPOINT="hub-mirror.internal"/);
    expect(() => loadEnv(workerEnvSchema, { HF_ENDPOINT: 'ftp://hub-mirror.internal' })).toThrow(/HF_ENDPOINT=.*http:\/\/ or https:\/\//);
  });
});
