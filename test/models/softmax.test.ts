import { describe, expect, it } from 'vitest';
import { classify, softmaxRows } from '../../libs/models/src/softmax.js';

describe('softmaxRows', () => {
  it('matches the textbook formula and sums to 1 per row', () => {
    const out = softmaxRows([1, 2, 3, 0, 0, 0], 3, new Float32Array(6));
    const e = [Math.exp(1), Math.exp(2), Math.exp(3)];
    const s = e[0]! + e[1]! + e[2]!;
    expect(out[0]).toBeCloseTo(e[0]! / s, 7);
    expect(out[2]).toBeCloseTo(e[2]! / s, 7);
    expect([...out.subarray(3)].map((x) => x.toFixed(6))).toEqual(['0.333333', '0.333333', '0.333333']);
  });
  it('is stable for huge logits', () => {
    const out = softmaxRows([1000, 999, -1000], 3, new Float32Array(3));
    expect(out[0]! + out[1]! + out[2]!).toBeCloseTo(1, 6);
    expect(out[0]).toBeCloseTo(1 / (1 + Math.exp(-1)), 6);
    expect(Number.isNaN(out[2])).toBe(false);
  });
});

describe('classify', () => {
  const labels = ['NEGATIVE', 'NEUTRAL', 'POSITIVE'];
  it('picks the argmax and lists every label, best first', () => {
    const c = classify([0.2, 0.1, 0.7], labels, null);
    expect(c.label).toBe('POSITIVE');
    expect(c.score).toBeCloseTo(0.7);
    expect(Object.keys(c.scores)).toEqual(['POSITIVE', 'NEGATIVE', 'NEUTRAL']);
  });
  it('keeps only the topK best', () => {
    expect(Object.keys(classify([0.2, 0.1, 0.7], labels, 1).scores)).toEqual(['POSITIVE']);
    expect(Object.keys(classify([0.2, 0.1, 0.7], labels, 10).scores)).toHaveLength(3);
  });
  it('breaks ties by label order', () => {
    expect(classify([0.5, 0.5], ['A', 'B'], null).label).toBe('A');
  });
});
