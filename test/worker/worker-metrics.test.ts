import { describe, expect, it } from 'vitest';
import { WorkerMetricsService } from '../../apps/worker/src/metrics/worker-metrics.service.js';

const series = (body: string, name: string) =>
  body
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`))
    .sort();

describe('usage counters', () => {
  it('give the first USAGE_METRICS_MAX_TENANTS tenants a label each and fold the rest, and unloaded models, into "other"', async () => {
    const metrics = new WorkerMetricsService({ USAGE_METRICS_MAX_TENANTS: 2 });
    metrics.modelLoaded('embed', 'org/m', 1);
    for (const tenant of ['t1', 't2', 't3', 't1', 't4', undefined]) metrics.usage(tenant, 'org/m', { texts: 1, tokens: 10 });
    metrics.usage('t2', 'never/loaded', { texts: 2, tokens: 20 });
    const body = (await metrics.render()).body;
    expect(series(body, 'shardwise_usage_texts_total')).toEqual([
      'shardwise_usage_texts_total{tenant="other",model="org/m"} 3',
      'shardwise_usage_texts_total{tenant="t1",model="org/m"} 2',
      'shardwise_usage_texts_total{tenant="t2",model="org/m"} 1',
      'shardwise_usage_texts_total{tenant="t2",model="other"} 2',
    ]);
    expect(series(body, 'shardwise_usage_tokens_total')).toContain('shardwise_usage_tokens_total{tenant="other",model="org/m"} 30');
  });

  it('default to 50 tenants with a label of their own', async () => {
    const metrics = new WorkerMetricsService();
    metrics.modelLoaded('embed', 'm', 1);
    for (let i = 0; i < 60; i++) metrics.usage(`t${i}`, 'm', { texts: 1, tokens: 1 });
    const lines = series((await metrics.render()).body, 'shardwise_usage_texts_total');
    expect(lines).toHaveLength(51);
    expect(lines).toContain('shardwise_usage_texts_total{tenant="other",model="m"} 10');
  });
});
