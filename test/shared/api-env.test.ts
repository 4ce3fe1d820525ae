import { describe, expect, it } from 'vitest';
import { apiEnvSchema, ConfigError, loadEnv, workerEnvSchema } from '#shared';

describe('API environment', () => {
  it('defaults the admission budget, retention and janitor', () => {
    const env = loadEnv(apiEnvSchema, {});
    expect(env).toMatchObject({
      ADMISSION_MAX_QUEUED_TEXTS: 50_000_000,
      TENANT_MAX_QUEUED_TEXTS: 0,
      RETENTION_SECONDS: 604_800,
      STORE_JANITOR_MS: 600_000,
      ORPHAN_GRACE_MS: 3_600_000,
    });
  });

  it('refuses the removed byte budget, naming its replacement', () => {
    let error: unknown;
    try {
      loadEnv(apiEnvSchema, { ADMISSION_MAX_BACKLOG_BYTES: '1073741824' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toMatch(/ADMISSION_MAX_BACKLOG_BYTES="1073741824": no longer supported: .*ADMISSION_MAX_QUEUED_TEXTS/);
  });

  it('refuses the no-op engine unless it is confirmed', () => {
    expect(() => loadEnv(workerEnvSchema, { INFERENCE_ENGINE: 'noop-test-only' })).toThrow(/INFERENCE_ENGINE.*SHARDWISE_ALLOW_NOOP_ENGINE=1/s);
    expect(loadEnv(workerEnvSchema, { INFERENCE_ENGINE: 'noop-test-only', SHARDWISE_ALLOW_NOOP_ENGINE: '1' }).INFERENCE_ENGINE).toBe('noop-test-only');
    expect(loadEnv(workerEnvSchema, {}).INFERENCE_ENGINE).toBe('onnx');
  });
});
