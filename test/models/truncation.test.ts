import { describe, expect, it } from 'vitest';
import { detectSpecialLayout, truncateIds, type EncodeFn } from '../../libs/models/src/truncation.js';

// Toy tokenizers: one id per character, with BERT-like and RoBERTa-like decorations.
const chars = (text: string): number[] => [...text].map((c) => c.charCodeAt(0));
const bertLike: EncodeFn = (text, special) => (special ? [101, ...chars(text), 102] : chars(text));
const robertaLike: EncodeFn = (text, special) => (special ? [0, ...chars(text), 2] : chars(text));
const prefixOnly: EncodeFn = (text, special) => (special ? [1, 7, ...chars(text)] : chars(text));
const none: EncodeFn = (text) => chars(text);

describe('detectSpecialLayout', () => {
  it('finds one special token on each side for BERT- and RoBERTa-style tokenizers', () => {
    expect(detectSpecialLayout(bertLike)).toEqual({ prefix: 1, suffix: 1 });
    expect(detectSpecialLayout(robertaLike)).toEqual({ prefix: 1, suffix: 1 });
  });
  it('handles prefix-only and special-free tokenizers', () => {
    expect(detectSpecialLayout(prefixOnly)).toEqual({ prefix: 2, suffix: 0 });
    expect(detectSpecialLayout(none)).toEqual({ prefix: 0, suffix: 0 });
  });
});

describe('truncateIds', () => {
  const layout = { prefix: 1, suffix: 1 };
  it('returns the same array when it fits', () => {
    const ids = [101, 5, 6, 102];
    expect(truncateIds(ids, 4, layout)).toBe(ids);
    expect(truncateIds(ids, 10, layout)).toBe(ids);
  });
  it('keeps [CLS] + the first maxTokens-2 text ids + [SEP], like Python truncation=True', () => {
    const ids = [101, 1, 2, 3, 4, 5, 6, 102];
    expect(truncateIds(ids, 5, layout)).toEqual([101, 1, 2, 3, 102]);
    expect(truncateIds(ids, 2, layout)).toEqual([101, 102]);
  });
  it('keeps a longer suffix intact', () => {
    expect(truncateIds([9, 1, 2, 3, 4, 7, 8], 5, { prefix: 1, suffix: 2 })).toEqual([9, 1, 2, 7, 8]);
  });
  it('works on typed arrays and always yields exactly maxTokens ids', () => {
    const ids = Int32Array.from({ length: 1000 }, (_, i) => (i === 0 ? 0 : i === 999 ? 2 : 100 + i));
    for (const max of [2, 3, 128, 512, 999]) {
      const out = truncateIds(ids, max, layout);
      expect(out.length).toBe(max);
      expect(out[0]).toBe(0);
      expect(out[max - 1]).toBe(2);
    }
  });
  it('refuses a limit smaller than the special tokens', () => {
    expect(() => truncateIds([1, 2, 3, 4], 1, layout)).toThrow(RangeError);
  });
});
