/**
 * Token alignment and entity aggregation, checked by hand: offsets (code points) of WordPiece
 * subwords, accents, CJK and emoji ([UNK]), and of byte-level BPE tokens, on the generated models'
 * real tokenizers; then the aggregation strategies on hand-made scores.
 */
import { env } from '@huggingface/transformers';
import { beforeAll, describe, expect, it } from 'vitest';
import { alignTokens, extractEntities, type TokenAlignment } from '#models';
import { alignableTokenizer } from '../../libs/models/src/alignable-tokenizer.js';
import { ensureNerModels, loadTokenizer } from './token-classification-support.js';

interface Span {
  word: string;
  start: number;
  end: number;
  kind: number;
}

let bert: (text: string) => { alignment: TokenAlignment; spans: Span[] };
let roberta: (text: string) => { alignment: TokenAlignment; spans: Span[] };

beforeAll(async () => {
  env.localModelPath = await ensureNerModels();
  env.allowRemoteModels = false;
  const make = async (family: 'bert' | 'roberta') => {
    const tokenizer = await loadTokenizer(family);
    const aligner = alignableTokenizer(tokenizer);
    return (text: string) => {
      const alignment = alignTokens(text, tokenizer.encode(text), aligner);
      const spans = alignment.words.map((word, j) => ({
        word,
        start: alignment.offsets[2 * j] as number,
        end: alignment.offsets[2 * j + 1] as number,
        kind: alignment.kinds[j] as number,
      }));
      return { alignment, spans };
    };
  };
  bert = await make('bert');
  roberta = await make('roberta');
}, 120_000);

const slice = (text: string, start: number, end: number): string => Array.from(text).slice(start, end).join('');

describe('WordPiece (BERT uncased) offsets', () => {
  it('maps lowercased, accent-stripped tokens and ## subwords back to the original characters', () => {
    const text = 'Café owner Zoë, unbelievably!';
    const { spans } = bert(text);
    expect(spans).toEqual([
      { word: '[CLS]', start: -1, end: -1, kind: 2 },
      { word: 'cafe', start: 0, end: 4, kind: 0 },
      { word: 'owner', start: 5, end: 10, kind: 0 },
      { word: 'zoe', start: 11, end: 14, kind: 0 },
      { word: ',', start: 14, end: 15, kind: 0 },
      { word: 'un', start: 16, end: 18, kind: 0 },
      { word: '##bel', start: 18, end: 21, kind: 1 },
      { word: '##ie', start: 21, end: 23, kind: 1 },
      { word: '##va', start: 23, end: 25, kind: 1 },
      { word: '##bly', start: 25, end: 28, kind: 1 },
      { word: '!', start: 28, end: 29, kind: 0 },
      { word: '[SEP]', start: -1, end: -1, kind: 2 },
    ]);
    expect(slice(text, 0, 4)).toBe('Café');
  });

  it('gives each CJK character its own span and an emoji word its [UNK] span, in code points', () => {
    const text = '東京 people 😀 ok';
    const { spans } = bert(text);
    expect(spans.slice(1, -1)).toEqual([
      { word: '東', start: 0, end: 1, kind: 0 },
      { word: '京', start: 1, end: 2, kind: 0 },
      { word: 'people', start: 3, end: 9, kind: 0 },
      // [UNK] reports the text it stands for, as Python's pipeline does.
      { word: '😀', start: 10, end: 11, kind: 0 },
      { word: 'ok', start: 12, end: 14, kind: 0 },
    ]);
  });

  it('handles combining accents written as separate code points', () => {
    const text = 'Cafe\u0301 x';
    const { spans } = bert(text);
    expect(spans.slice(1, -1)).toEqual([
      { word: 'cafe', start: 0, end: 5, kind: 0 },
      { word: 'x', start: 6, end: 7, kind: 0 },
    ]);
  });
});

describe('byte-level BPE (RoBERTa) offsets', () => {
  it('leaves the Ġ space out of the span and marks tokens inside a word as subwords', () => {
    const text = 'Café owner unbelievably';
    const { spans } = roberta(text);
    const real = spans.filter((s) => s.kind !== 2);
    for (const span of real) expect(span.start).toBeGreaterThanOrEqual(0);
    // Every span covers text that the token's bytes spell (é is split over two byte tokens: both span it).
    expect(real.map((s) => slice(text, s.start, s.end))).toEqual(real.map((s) => s.word).map((w) => (w === 'Ã' || w === '©' ? 'é' : w.replace('Ġ', ''))));
    const words = real.filter((s) => s.kind === 0).map((s) => slice(text, s.start, s.end));
    expect(words[0]).toBe('C');
    expect(words).toContain('own');
  });

  it('spans an emoji split over several byte tokens with each of them', () => {
    const text = 'hi 😀';
    const { spans } = roberta(text);
    const emoji = spans.filter((s) => s.kind !== 2 && s.start === 3);
    expect(emoji.length).toBeGreaterThanOrEqual(1);
    for (const s of emoji) expect(s.end).toBe(4);
  });
});

describe('aggregation strategies', () => {
  const labels = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC'];
  // "Ann lives in New York", as WordPiece tokens: [CLS] ann li ##ves in new york [SEP]
  const alignment: TokenAlignment = {
    words: ['[CLS]', 'ann', 'li', '##ves', 'in', 'new', 'york', '[SEP]'],
    offsets: Int32Array.from([-1, -1, 0, 3, 4, 6, 6, 9, 10, 12, 13, 16, 17, 21, -1, -1]),
    kinds: Uint8Array.from([2, 0, 0, 1, 0, 0, 0, 2]),
    tokenText: 'wordpiece',
  };
  const row = (scores: number[]) => scores;
  const probs = Float32Array.from([
    ...row([1, 0, 0, 0, 0]),
    ...row([0.1, 0.8, 0.1, 0, 0]), // ann: B-PER
    ...row([0.6, 0, 0.4, 0, 0]), // li: O
    ...row([0.1, 0, 0.9, 0, 0]), // ##ves: I-PER
    ...row([0.9, 0.05, 0.05, 0, 0]), // in: O
    ...row([0.2, 0, 0, 0.7, 0.1]), // new: B-LOC
    ...row([0.3, 0, 0, 0.1, 0.6]), // york: I-LOC
    ...row([1, 0, 0, 0, 0]),
  ]);
  const run = (strategy: 'none' | 'simple' | 'first' | 'average' | 'max') =>
    extractEntities(probs, labels, alignment, strategy, ['O']).map((e) => ({ ...e, score: Math.round(e.score * 1e4) / 1e4 }));

  it('none: one entity per non-O token, with its index and token string', () => {
    expect(run('none')).toEqual([
      { entity: 'B-PER', score: 0.8, index: 1, word: 'ann', start: 0, end: 3 },
      { entity: 'I-PER', score: 0.9, index: 3, word: '##ves', start: 6, end: 9 },
      { entity: 'B-LOC', score: 0.7, index: 5, word: 'new', start: 13, end: 16 },
      { entity: 'I-LOC', score: 0.6, index: 6, word: 'york', start: 17, end: 21 },
    ]);
  });

  it('simple: B-/I- runs merge, an O token in between splits them', () => {
    expect(run('simple')).toEqual([
      { entity_group: 'PER', score: 0.8, word: 'ann', start: 0, end: 3 },
      { entity_group: 'PER', score: 0.9, word: '##ves', start: 6, end: 9 },
      { entity_group: 'LOC', score: 0.65, word: 'new york', start: 13, end: 21 },
    ]);
  });

  it('first, average, max: a word takes one label, from its first token, the mean, or its most confident token', () => {
    // "lives": first -> li's O (dropped); average -> (0.35 O, 0.65 I-PER) -> I-PER; max -> ##ves (0.9) -> I-PER.
    expect(run('first')).toEqual([
      { entity_group: 'PER', score: 0.8, word: 'ann', start: 0, end: 3 },
      { entity_group: 'LOC', score: 0.65, word: 'new york', start: 13, end: 21 },
    ]);
    // B-PER then I-PER: one group, scored by the mean of its words.
    expect(run('average')).toEqual([
      { entity_group: 'PER', score: 0.725, word: 'ann lives', start: 0, end: 9 },
      { entity_group: 'LOC', score: 0.65, word: 'new york', start: 13, end: 21 },
    ]);
    expect(run('max')).toEqual([
      { entity_group: 'PER', score: 0.85, word: 'ann lives', start: 0, end: 9 },
      { entity_group: 'LOC', score: 0.65, word: 'new york', start: 13, end: 21 },
    ]);
  });

  it('ignore_labels keeps O when asked for nothing to be ignored', () => {
    const all = extractEntities(probs, labels, alignment, 'none', []);
    expect(all.map((e) => e.entity)).toEqual(['B-PER', 'O', 'I-PER', 'O', 'B-LOC', 'I-LOC']);
  });
});
