import { describe, expect, it } from 'vitest';
import { runWithSplitRetry } from '../../libs/models/src/split-retry.js';

describe('runWithSplitRetry', () => {
  it('fails only the poison items and keeps everything in order', async () => {
    const calls: number[][] = [];
    const items = Array.from({ length: 11 }, (_, i) => i);
    const results = await runWithSplitRetry(items, async (batch) => {
      calls.push([...batch]);
      if (batch.includes(3) || batch.includes(8)) throw new Error(`poison in [${batch.join(',')}]`);
      return batch.map((x) => x * 10);
    });
    expect(results.map((r) => (r.ok ? r.value : 'x'))).toEqual([0, 10, 20, 'x', 40, 50, 60, 70, 'x', 90, 100]);
    const failure = results[3];
    expect(failure?.ok === false && failure.message).toBe('poison in [3]');
    expect(calls.length).toBeLessThanOrEqual(2 * items.length);
  });
  it('runs once when nothing fails', async () => {
    let runs = 0;
    const results = await runWithSplitRetry([1, 2, 3], async (b) => {
      runs++;
      return b;
    });
    expect(runs).toBe(1);
    expect(results.every((r) => r.ok)).toBe(true);
  });
  it('treats a wrong-length answer as a failure and retries smaller', async () => {
    const results = await runWithSplitRetry([1, 2], async (b) => (b.length > 1 ? [1] : b));
    expect(results).toEqual([
      { ok: true, value: 1 },
      { ok: true, value: 2 },
    ]);
    const never = await runWithSplitRetry([1, 2], async () => []);
    expect(never.every((r) => !r.ok)).toBe(true);
  });
});
