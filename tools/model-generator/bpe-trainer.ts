import { MaxHeap } from './max-heap.js';

/**
 * Minimal BPE trainer (the tokenizers BpeTrainer algorithm, without options):
 * repeatedly merge the most frequent adjacent symbol pair. Pair counts are
 * updated only for words that contain the merged pair, and the best pair comes
 * from a lazy max-heap, so ~16k merges over ~100k word types take seconds.
 */

export interface BpeTrainResult {
  /** Merge rules in priority order. */
  merges: Array<[string, string]>;
  /** Tokens created by merges, in creation order (no duplicates). */
  newTokens: string[];
}

interface Word {
  symbols: number[];
  weight: number;
}

const SHIFT = 0x100000;
const pairKey = (a: number, b: number): number => a * SHIFT + b;

export function trainBpe(wordCounts: Map<string, number>, alphabet: string[], maxMerges: number): BpeTrainResult {
  const symbols = [...alphabet];
  const symbolId = new Map(symbols.map((s, i) => [s, i]));
  const words: Word[] = [];
  for (const [word, weight] of wordCounts) {
    const ids = Array.from(word, (ch) => symbolId.get(ch));
    if (ids.some((id) => id === undefined)) throw new Error(`word outside the alphabet: ${word}`);
    words.push({ symbols: ids as number[], weight });
  }

  const counts = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  // Entries go stale when a count changes; they are skipped on pop.
  const heap = new MaxHeap<[number, number]>((x, y) => {
    if (x[0] !== y[0]) return x[0] > y[0];
    // Ties break on the pair's text, so training is deterministic.
    const [xa, xb, ya, yb] = [x[1] / SHIFT, x[1] % SHIFT, y[1] / SHIFT, y[1] % SHIFT].map(Math.floor);
    return symbols[xa] !== symbols[ya] ? symbols[xa] < symbols[ya] : symbols[xb] < symbols[yb];
  });
  const touched = new Set<number>();
  const addPairs = (index: number, sign: 1 | -1): void => {
    const { symbols: s, weight } = words[index];
    for (let i = 0; i + 1 < s.length; i++) {
      const key = pairKey(s[i], s[i + 1]);
      counts.set(key, (counts.get(key) ?? 0) + sign * weight);
      touched.add(key);
      if (sign > 0) {
        let set = where.get(key);
        if (!set) {
          set = new Set();
          where.set(key, set);
        }
        set.add(index);
      }
    }
  };
  const flush = (): void => {
    for (const key of touched) heap.push([counts.get(key) ?? 0, key]);
    touched.clear();
  };

  words.forEach((_, i) => addPairs(i, 1));
  flush();
  const merges: Array<[string, string]> = [];
  const newTokens: string[] = [];
  const done = new Set<number>();
  while (merges.length < maxMerges && heap.size > 0) {
    const [count, key] = heap.pop() as [number, number];
    if (counts.get(key) !== count) continue; // stale entry
    if (count < 2) break; // HF's min_frequency default; nothing useful is left
    const [a, b] = [Math.floor(key / SHIFT), key % SHIFT];
    const merged = symbols[a] + symbols[b];
    let id = symbolId.get(merged);
    if (id === undefined) {
      id = symbols.push(merged) - 1;
      symbolId.set(merged, id);
      newTokens.push(merged);
    }
    // A pair can reappear when a merge recreates an existing symbol; keep its first rank.
    if (!done.has(key)) merges.push([symbols[a], symbols[b]]);
    done.add(key);
    for (const index of where.get(key) ?? []) {
      const s = words[index].symbols;
      if (!s.some((sym, i) => sym === a && s[i + 1] === b)) continue; // stale membership
      addPairs(index, -1);
      const next: number[] = [];
      for (let i = 0; i < s.length; i++) {
        if (s[i] === a && s[i + 1] === b) {
          next.push(id);
          i++;
        } else next.push(s[i]);
      }
      words[index].symbols = next;
      addPairs(index, 1);
    }
    where.delete(key);
    flush();
  }
  return { merges, newTokens };
}
