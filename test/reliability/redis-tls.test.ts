import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { API_ENTRY, startApp, WORKER_ENTRY, type AppProcess } from '../support/app-process.js';
import { startTlsRedis, TLS_SENTINEL_MASTER, type TlsRedis } from '../support/redis-tls.js';
import { finished, freePort, MODEL_DIR, postJob, resultsOf, sleep, TINY_EMBED, waitFor } from '../support/stack.js';

/**
 * Redis over TLS only (a throwaway CA made with openssl at test time; the nodes have no plain port):
 * the API and a worker reach it through rediss:// with REDIS_TLS_CA_FILE, and through Sentinels that
 * speak TLS (REDIS_SENTINEL_TLS), and complete a job either way.
 */
describe('Redis over TLS', () => {
  let redis: TlsRedis;
  let resultsDir: string;
  let primary: Redis;
  const apps: AppProcess[] = [];

  const startPair = async (env: Record<string, string>): Promise<{ api: AppProcess; worker: AppProcess }> => {
    const common = { ...env, MODEL_DIR, RESULTS_DIR: resultsDir, REDIS_TLS_CA_FILE: redis.certificates.caFile };
    const apiPort = await freePort();
    const api = await startApp(API_ENTRY, { ...common, PORT: String(apiPort) }, apiPort, 60_000);
    apps.push(api);
    const workerPort = await freePort();
    const worker = await startApp(
      WORKER_ENTRY,
      { ...common, WORKER_PORT: String(workerPort), INFERENCE_ENGINE: 'noop-test-only', SHARDWISE_ALLOW_NOOP_ENGINE: '1' },
      workerPort,
      60_000,
    );
    apps.push(worker);
    return { api, worker };
  };
  const completesAJob = async (api: AppProcess): Promise<void> => {
    const submitted = await postJob(api.baseUrl, { task: 'embed', model: TINY_EMBED, inputs: ['a', 'b', 'c'] });
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const job = await waitFor(api.baseUrl, submitted.body.id as string, finished, { timeoutMs: 30_000 });
    expect(job.state).toBe('completed');
    expect((await resultsOf(api.baseUrl, job.id)).map((line) => line.index)).toEqual([0, 1, 2]);
  };
  const stopAll = async () => {
    for (const app of apps.splice(0)) await app.stop('SIGKILL').catch(() => undefined);
  };

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    redis = await startTlsRedis();
    resultsDir = await mkdtemp(join(tmpdir(), 'sw-results-'));
    primary = redis.client();
    primary.on('error', () => undefined);
  });

  afterAll(async () => {
    await stopAll();
    primary?.disconnect();
    await redis?.stop();
    if (resultsDir) await rm(resultsDir, { recursive: true, force: true });
  });

  it('boots the API and a worker through rediss:// with the CA of REDIS_TLS_CA_FILE, and completes a job', async () => {
    const { api } = await startPair({ REDIS_URL: `rediss://127.0.0.1:${redis.primaryPort}` });
    const clients = await primary.client('LIST');
    expect(clients).toContain('name=shardwise-api ');
    expect(clients).toContain('name=shardwise-worker ');
    await completesAJob(api);
    await stopAll();
  });

  it('without the CA, says in its log which variable to set instead of only retrying', async () => {
    const port = await freePort();
    const env = { ...process.env, PORT: String(port), REDIS_URL: `rediss://127.0.0.1:${redis.primaryPort}`, MODEL_DIR, RESULTS_DIR: resultsDir };
    const api = spawn(process.execPath, [API_ENTRY], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    for (const stream of [api.stdout, api.stderr]) stream.on('data', (chunk: Buffer) => (output += chunk.toString()));
    try {
      const deadline = Date.now() + 30_000;
      while (!output.includes('REDIS_TLS_CA_FILE') && Date.now() < deadline) await sleep(100);
      expect(output).toMatch(/shardwise-api: self-signed certificate in certificate chain \(SELF_SIGNED_CERT_IN_CHAIN\): set REDIS_TLS_CA_FILE/);
    } finally {
      api.kill('SIGKILL');
    }
  });

  it('boots them through Sentinels that speak TLS (REDIS_SENTINEL_TLS), with replica acknowledgement, and completes a job', async () => {
    const { api } = await startPair({
      // The host is ignored: the Sentinels name the primary; rediss:// says the nodes speak TLS.
      REDIS_URL: 'rediss://127.0.0.1:1',
      REDIS_SENTINELS: redis.sentinelPorts.map((port) => `127.0.0.1:${port}`).join(','),
      REDIS_SENTINEL_MASTER: TLS_SENTINEL_MASTER,
      REDIS_SENTINEL_TLS: 'true',
      REDIS_MIN_REPLICAS_ACK: '1',
    });
    expect(await primary.client('LIST')).toContain('name=shardwise-api ');
    await completesAJob(api);
  });
});
