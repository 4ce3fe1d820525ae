/**
 * A seeded, realistic corpus for tests, the demo and benchmarks: long-tailed lengths (mostly 5-60
 * words, some paragraphs, a few far over any model's limit), accents, CJK, Arabic, emoji, empty strings.
 */
const WORDS = (
  'the of and to in is was for on that with as by at from it an be this are or have which were ' +
  'model data queue worker shard batch token embedding sentiment review product service movie great ' +
  'terrible excellent awful delivery price quality support customer experience recommend never always ' +
  'fast slow broken perfect happy disappointed average cluster kubernetes redis latency throughput gpu'
).split(' ');
const EXTRAS = ['café', 'naïve', 'über', 'jalapeño', '東京', '日本語のテキスト', 'مرحبا', 'Привет', '🙂', '🚀', '👍🏽', '🇫🇷', 'e\u0301'];

export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface CorpusOptions {
  /** @defaultValue 1 */
  seed?: number;
  /** Share of texts that are long paragraphs (80-200 words). @defaultValue 0.08 */
  paragraphShare?: number;
  /** Share of texts far over a 512-token limit (700-900 words). @defaultValue 0.01 */
  overLimitShare?: number;
  /** Share of empty strings. @defaultValue 0.005 */
  emptyShare?: number;
  /**
   * Share of rows that repeat the text of an earlier row (drawn uniformly from the last `repeatWindow`), as
   * real corpora do (boilerplate, retweets, duplicated reviews). With 0 the corpus is the one it always was.
   * @defaultValue 0
   */
  repeatShare?: number;
  /** Earlier rows a repeat is drawn from (it holds their texts in memory). @defaultValue 10000 */
  repeatWindow?: number;
}

export function syntheticText(random: () => number, words: number): string {
  const out: string[] = [];
  for (let i = 0; i < words; i++) {
    const pick = random();
    out.push(pick < 0.06 ? EXTRAS[Math.floor(random() * EXTRAS.length)] : WORDS[Math.floor(random() * WORDS.length)]);
    if (random() < 0.08) out[out.length - 1] += random() < 0.5 ? ',' : '.';
  }
  return out.join(' ');
}

/** Yields `count` texts lazily so a million-text corpus never sits in memory. */
export function* syntheticCorpus(count: number, options: CorpusOptions = {}): Generator<{ id: string; text: string }> {
  const random = mulberry32(options.seed ?? 1);
  const paragraph = options.paragraphShare ?? 0.08;
  const overLimit = options.overLimitShare ?? 0.01;
  const empty = options.emptyShare ?? 0.005;
  const repeat = options.repeatShare ?? 0;
  const window: string[] = [];
  const windowSize = options.repeatWindow ?? 10_000;
  // Its own stream, so that the rows that do not repeat are those of the corpus without repeats.
  const repeats = mulberry32((options.seed ?? 1) ^ 0x5bd1e995);
  for (let i = 0; i < count; i++) {
    if (repeat > 0 && i > 0 && repeats() < repeat) {
      yield { id: `doc-${i}`, text: window[Math.floor(repeats() * window.length)] as string };
      continue;
    }
    const roll = random();
    let words: number;
    if (roll < empty) words = 0;
    else if (roll < empty + overLimit) words = 700 + Math.floor(random() * 200);
    else if (roll < empty + overLimit + paragraph) words = 80 + Math.floor(random() * 120);
    else words = 5 + Math.floor(random() ** 2 * 55);
    const text = words === 0 ? '' : syntheticText(random, words);
    if (repeat > 0) {
      if (window.length < windowSize) window.push(text);
      else window[i % windowSize] = text;
    }
    yield { id: `doc-${i}`, text };
  }
}
