import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../../bench/load-generator.js';
import { generateModels } from '../../tools/model-generator/index.js';
import { MODEL_DIR, newApiKey, sha256Hex, Stack, TINY_EMBED } from '../support/stack.js';

/**
 * A small version of `npm run bench:load` (bench/load.ts): concurrent submissions and status polls
 * for a few seconds against an API with auth on, then every accepted job must finish with exactly
 * one line per input, and no request may fail with a 5xx or a dropped connection.
 */
describe('load smoke test (loopback, bounded)', () => {
  let stack: Stack;
  let base: string;
  const key = newApiKey();

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });
    stack = await Stack.start({ env: { API_KEYS: `loadtest:${sha256Hex(key)}`, LOG_LEVEL: 'warn' } });
    base = (await stack.startApi()).baseUrl;
    await stack.startWorker({ PRELOAD_MODELS: TINY_EMBED });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('loses and duplicates nothing under concurrent submissions and polls', async () => {
    const report = await runLoad({ baseUrl: base, durationMs: 4000, maxJobs: 400, submitters: 8, pollers: 8, textsPerJob: 10, model: TINY_EMBED, key, drainTimeoutMs: 60_000 });
    console.log(`[load] ${JSON.stringify(report)}`);
    expect(report.accepted).toBeGreaterThan(20);
    expect(report.submit.statuses).toEqual({ 202: report.accepted });
    expect(Object.keys(report.poll.statuses)).toEqual(['200']);
    expect(report.submit.networkErrors + report.poll.networkErrors).toBe(0);
    expect(report).toMatchObject({ unfinished: 0, lost: 0, duplicated: 0, misplaced: 0 });
    expect(report.completed).toBe(report.accepted);
  });

  it('refuses load from loopback-external addresses', async () => {
    await expect(runLoad({ baseUrl: 'http://example.com', durationMs: 1, maxJobs: 1, submitters: 1, pollers: 0, textsPerJob: 1 })).rejects.toThrow(/loopback/);
  });
});
