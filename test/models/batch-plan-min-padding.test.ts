import { describe, expect, it } from 'vitest';
import { BATCH_OVERHEAD_TOKENS, paddedTokens, planBatches, planBatchesMinPadding } from '../../libs/models/src/batch-plan.js';
import { rng } from './fixtures.js';

/** A long-tailed shard like the synthetic corpus: mostly short, some paragraphs, a few at the limit. */
function shardLengths(count: number, seed: number): number[] {
  const random = rng(seed);
  return Array.from({ length: count }, () => {
    const roll = random();
    if (roll < 0.01) return 512;
    if (roll < 0.09) return 100 + Math.floor(random() * 170);
    return 5 + Math.floor(random() ** 2 * 70);
  });
}

const cost = (plan: ReturnType<typeof planBatches>): number => paddedTokens(plan) + BATCH_OVERHEAD_TOKENS * plan.length;

describe('planBatchesMinPadding', () => {
  it('does not fill a batch behind a long text with much shorter ones', () => {
    // Greedy: [100, 50] padded to 100 (200), then [50, 50] -> 300; cutting after 100 costs 100 + 150.
    const lengths = [100, 50, 50, 50];
    expect(planBatches(lengths, { maxBatchTokens: 200, maxBatchSize: 8 }).map((b) => b.indices)).toEqual([
      [0, 1],
      [2, 3],
    ]);
    const plan = planBatchesMinPadding(lengths, { maxBatchTokens: 200, maxBatchSize: 8 });
    expect(plan.map((b) => b.indices)).toEqual([[0], [1, 2, 3]]);
    expect(paddedTokens(plan)).toBe(250);
  });

  it('keeps the limits, the longest-first order and covers each requested index once', () => {
    const lengths = shardLengths(512, 3);
    const wanted = lengths.map((_, i) => i).filter((i) => i % 11 !== 0);
    for (const limits of [
      { maxBatchTokens: 512, maxBatchSize: 16 },
      { maxBatchTokens: 2048, maxBatchSize: 64 },
      { maxBatchTokens: 300, maxBatchSize: 1 },
    ]) {
      const plan = planBatchesMinPadding(lengths, limits, wanted);
      expect(plan.flatMap((b) => b.indices).sort((a, b) => a - b)).toEqual(wanted);
      let previous = Infinity;
      for (const b of plan) {
        expect(b.indices.length <= limits.maxBatchSize && (b.indices.length * b.seqLength <= limits.maxBatchTokens || b.indices.length === 1)).toBe(true);
        expect(b.seqLength).toBe(Math.max(...b.indices.map((i) => lengths[i] as number)));
        expect(b.seqLength).toBeLessThanOrEqual(previous);
        previous = b.seqLength;
      }
    }
  });

  it('never costs more than the greedy plan and pads long-tailed shards much less', () => {
    let greedy = 0;
    let planned = 0;
    let real = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const lengths = shardLengths(512, seed);
      const limits = { maxBatchTokens: 2048, maxBatchSize: 64 };
      const a = planBatches(lengths, limits);
      const b = planBatchesMinPadding(lengths, limits);
      expect(cost(b)).toBeLessThanOrEqual(cost(a));
      greedy += paddedTokens(a);
      planned += paddedTokens(b);
      real += lengths.reduce((s, l) => s + l, 0);
    }
    expect(planned / real).toBeLessThan(1.05);
    expect(planned).toBeLessThan(greedy);
  });

  it('fills batches of equal lengths up to the limits, is deterministic, handles empty input', () => {
    expect(planBatchesMinPadding(new Array(10).fill(3), { maxBatchTokens: 1000, maxBatchSize: 4 }).map((b) => b.indices.length)).toEqual([4, 4, 2]);
    expect(planBatchesMinPadding([2, 2, 2], { maxBatchTokens: 4, maxBatchSize: 8 }).map((b) => b.indices)).toEqual([[0, 1], [2]]);
    expect(planBatchesMinPadding([500, 10, 10], { maxBatchTokens: 100, maxBatchSize: 8 })).toEqual([
      { indices: [0], seqLength: 500 },
      { indices: [1, 2], seqLength: 10 },
    ]);
    expect(planBatchesMinPadding([0], { maxBatchTokens: 4, maxBatchSize: 8 })[0]?.seqLength).toBe(1);
    expect(planBatchesMinPadding([], { maxBatchTokens: 4, maxBatchSize: 8 })).toEqual([]);
  });
});
