import { describe, expect, it } from 'vitest';
import { paddedTokens, planBatches } from '../../libs/models/src/batch-plan.js';

describe('planBatches', () => {
  it('sorts longest first and respects the padded-token budget', () => {
    const lengths = [10, 50, 20, 50, 5, 30];
    const plan = planBatches(lengths, { maxBatchTokens: 100, maxBatchSize: 32 });
    expect(plan.map((b) => b.indices)).toEqual([[1, 3], [5, 2, 0], [4]]);
    for (const b of plan) {
      expect(b.indices.length * b.seqLength).toBeLessThanOrEqual(100);
      expect(b.seqLength).toBe(Math.max(...b.indices.map((i) => lengths[i] as number)));
    }
    expect(paddedTokens(plan)).toBe(2 * 50 + 3 * 30 + 5);
  });
  it('caps the batch size', () => {
    const plan = planBatches(new Array(10).fill(3), { maxBatchTokens: 1000, maxBatchSize: 4 });
    expect(plan.map((b) => b.indices.length)).toEqual([4, 4, 2]);
  });
  it('gives an over-budget text its own batch instead of dropping it', () => {
    const plan = planBatches([500, 10, 10], { maxBatchTokens: 100, maxBatchSize: 8 });
    expect(plan[0]).toEqual({ indices: [0], seqLength: 500 });
    expect(plan[1]?.indices).toEqual([1, 2]);
  });
  it('plans only the requested indices and covers each exactly once', () => {
    const lengths = Array.from({ length: 300 }, (_, i) => 2 + ((i * 37) % 128));
    const wanted = lengths.map((_, i) => i).filter((i) => i % 7 !== 0);
    const plan = planBatches(lengths, { maxBatchTokens: 512, maxBatchSize: 16 }, wanted);
    const seen = plan.flatMap((b) => b.indices).sort((a, b) => a - b);
    expect(seen).toEqual(wanted);
    for (const b of plan) expect(b.indices.length <= 16 && (b.indices.length * b.seqLength <= 512 || b.indices.length === 1)).toBe(true);
  });
  it('is deterministic on ties and treats empty sequences as length 1', () => {
    expect(planBatches([2, 2, 2], { maxBatchTokens: 4, maxBatchSize: 8 }).map((b) => b.indices)).toEqual([[0, 1], [2]]);
    expect(planBatches([0], { maxBatchTokens: 4, maxBatchSize: 8 })[0]?.seqLength).toBe(1);
    expect(planBatches([], { maxBatchTokens: 4, maxBatchSize: 8 })).toEqual([]);
  });
});
