import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack, TINY_EMBED } from '../support/stack.js';

/**
 * A Redis that may evict keys can drop a queued shard or a job record without a trace, so neither
 * the API nor a worker starts against one (assertNoEviction, at boot): exit 1 with a message that
 * names the policy and the fix.
 */
describe('refuses to start against a Redis whose eviction policy could drop jobs', () => {
  let stack: Stack;

  beforeAll(async () => {
    stack = await Stack.start();
  });

  afterAll(async () => {
    await stack?.stop();
  });

  for (const policy of ['allkeys-lru', 'volatile-ttl']) {
    it(`API and worker exit 1 on maxmemory-policy ${policy}`, async () => {
      await stack.client().config('SET', 'maxmemory-policy', policy);
      for (const start of [() => stack.startApi(), () => stack.startWorker({ PRELOAD_MODELS: TINY_EMBED })]) {
        const error = await start().then(
          () => null,
          (e: Error) => e,
        );
        expect(error?.message).toMatch(/exited with 1/);
        expect(error?.message).toContain(`maxmemory-policy is "${policy}"`);
        expect(error?.message).toContain('noeviction');
      }
    });
  }

  it('starts once the policy is noeviction', async () => {
    await stack.client().config('SET', 'maxmemory-policy', 'noeviction');
    const api = await stack.startApi();
    expect((await fetch(`${api.baseUrl}/readyz`)).status).toBe(200);
  });
});
