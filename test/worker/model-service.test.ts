import { Logger } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import { loadEnv, workerEnvSchema } from '#shared';
import { ModelService } from '../../apps/worker/src/inference/model.service.js';
import { WorkerMetricsService } from '../../apps/worker/src/metrics/worker-metrics.service.js';
import { FakePool } from './fake-pool.js';

/** ModelService keeps no memo of its own (InferencePool is the one): it reports each model's load once. */
describe('ModelService', () => {
  it('reports a load once, however many shards ask for the model, and counts failed loads', async () => {
    Logger.overrideLogger(false);
    const env = loadEnv(workerEnvSchema, { REDIS_URL: 'redis://127.0.0.1:1', RESULTS_DIR: '/tmp', WORKER_PORT: '0' });
    const pool = new FakePool();
    const metrics = new WorkerMetricsService();
    const models = new ModelService(pool, env, metrics);
    await models.onApplicationBootstrap();
    expect(models.isReady()).toBe(true);

    const [a, b] = await Promise.all([models.load('fake/model', 'embed'), models.load('fake/model', 'embed')]);
    expect(a).toEqual(b);
    await models.load('fake/model', 'embed');
    const body = (await metrics.render()).body;
    expect(body.match(/^shardwise_worker_model_load_seconds\{/gm)).toHaveLength(1);
    expect(body).toContain('shardwise_worker_model_load_seconds{task="embed",model="fake/model"}');

    pool.started = false; // the fake refuses loads until started
    await expect(models.load('fake/other', 'embed')).rejects.toThrow('not started');
    expect((await metrics.render()).body).toContain('shardwise_worker_errors_total{kind="model_load"} 1');
    await models.beforeApplicationShutdown();
    expect(pool.closed).toBe(true);
  });
});
