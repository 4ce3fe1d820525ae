import { describe, expect, it } from 'vitest';
import { JobNotifier, type JobNotifierOptions, type JobRecord, type JobStore } from '#shared';
import { jobRecord } from '../worker/harness.js';

/** JobNotifier alone, around fakes: what the API (cancel) and the worker (counted shards, outbox sweep) both rely on. */
function setup(records: JobRecord[] = [], overrides: Partial<JobNotifierOptions> = {}, failAdds = 0) {
  const calls: string[] = [];
  const added: Array<{ name: string; jobId: string; id: unknown }> = [];
  const published: Array<{ channel: string; message: unknown }> = [];
  const errors: string[] = [];
  let failures = failAdds;
  const jobs = {
    get: async (id: string) => records.find((r) => r.id === id) ?? null,
    webhookQueued: async (id: string) => void calls.push(`queued ${id}`),
    webhooksDue: async () => records.map((r) => r.id),
  } as unknown as JobStore;
  const notifier = new JobNotifier({
    redisPrefix: 'p',
    jobs,
    webhookQueue: () => ({
      add: async (name, delivery, opts) => {
        if (failures-- > 0) throw new Error('redis down');
        added.push({ name, jobId: delivery.jobId, id: opts.jobId });
      },
    }),
    publisher: () => ({ publish: async (channel, message) => published.push({ channel, message: JSON.parse(message) }) }),
    logger: { warn: (m) => errors.push(m), error: (m) => errors.push(m) },
    webhookAttempts: 3,
    webhookBackoffMs: 100,
    ...overrides,
  });
  return { notifier, calls, added, published, errors };
}

describe('JobNotifier', () => {
  it('a terminal transition queues the webhook, clears the outbox entry and tells progress streams', async () => {
    const t = setup();
    await t.notifier.jobTerminal(jobRecord('j1', { state: 'cancelled', callbackUrl: 'https://example.com/hook' }));
    expect(t.added).toEqual([{ name: 'job.cancelled', jobId: 'j1', id: 'j1-cancelled' }]);
    expect(t.calls).toEqual(['queued j1']);
    expect(t.published).toEqual([{ channel: 'p:progress:j1', message: { kind: 'cancelled' } }]);
  });

  it('never throws: a failed enqueue is logged, leaves the outbox entry for the sweep, and progress still goes out', async () => {
    const t = setup([], { enqueueTries: 1 }, 1);
    await t.notifier.jobTerminal(jobRecord('j1', { state: 'cancelled', callbackUrl: 'https://example.com/hook' }));
    expect(t.added).toEqual([]);
    expect(t.calls).toEqual([]);
    expect(t.errors).toEqual(['could not queue the cancelled webhook of job j1: redis down']);
    expect(t.published).toHaveLength(1);
  });

  it('ignores jobs that are not terminal, and needs no webhook without a callback', async () => {
    const t = setup();
    await t.notifier.jobTerminal(jobRecord('j1', { state: 'running', callbackUrl: 'https://example.com/hook' }));
    expect(t.published).toEqual([]);
    await t.notifier.jobTerminal(jobRecord('j2', { state: 'completed' }));
    expect(t.added).toEqual([]);
    expect(t.published).toEqual([{ channel: 'p:progress:j2', message: { kind: 'finished' } }]);
  });

  it('after a counted shard: publishes progress; the count that finished the job also queues its webhook, retrying', async () => {
    const t = setup([jobRecord('j1', { state: 'completed', callbackUrl: 'https://example.com/hook' })], {}, 2);
    await t.notifier.shardCounted('j1', 0, 'already-counted');
    expect(t.published).toEqual([]);
    await t.notifier.shardCounted('j1', 1, 'counted');
    await t.notifier.shardCounted('j1', 2, 'job-finished');
    expect(t.added).toEqual([{ name: 'job.completed', jobId: 'j1', id: 'j1-completed' }]);
    expect(t.calls).toEqual(['queued j1']);
    expect(t.published.map((p) => p.message)).toEqual([
      { kind: 'shard', shard: 1 },
      { kind: 'finished', shard: 2 },
    ]);
  });

  it('the outbox sweep queues what is due, and drops entries with nothing to deliver', async () => {
    const t = setup([jobRecord('j1', { state: 'failed', callbackUrl: 'https://example.com/hook' }), jobRecord('j2', { state: 'completed' })]);
    await t.notifier.sweep(Date.now());
    expect(t.added).toEqual([{ name: 'job.failed', jobId: 'j1', id: 'j1-failed' }]);
    expect(t.calls).toEqual(['queued j1', 'queued j2']);
    expect(t.errors).toHaveLength(2);
  });
});
