/**
 * The benchmark corpus and its tokenization. Every measurement regenerates the same texts from the
 * seed (the generator is deterministic), so child processes need no shared files, and counts tokens
 * the same way: the model's tokenizer, then truncation to the model limit keeping [CLS] ... [SEP]
 * (libs/models/src/truncation.ts, what the worker does).
 */
import { resolve } from 'node:path';
import { AutoTokenizer, env, LogLevel } from '@huggingface/transformers';
import { detectSpecialLayout, truncateIds } from '../libs/models/src/truncation.js';
import { mulberry32, syntheticCorpus, syntheticText, type CorpusOptions } from '../tools/synthetic-corpus.js';

export const MODEL_ID = 'shardwise-random/bert-minilm-embed';
export const MAX_TOKENS = 512;

export interface CorpusSpec {
  count: number;
  seed: number;
  /** 'mixed': the default long-tailed corpus; 'short': only 5-60-word texts (memory runs). */
  kind: 'mixed' | 'short';
}

export function corpusOptions(spec: CorpusSpec): CorpusOptions {
  return spec.kind === 'short' ? { seed: spec.seed, paragraphShare: 0, overLimitShare: 0, emptyShare: 0 } : { seed: spec.seed };
}

export function corpusTexts(spec: CorpusSpec): string[] {
  const texts: string[] = [];
  for (const item of syntheticCorpus(spec.count, corpusOptions(spec))) texts.push(item.text);
  return texts;
}

export function useLocalModels(modelDir: string): void {
  env.logLevel = LogLevel.NONE;
  env.localModelPath = modelDir;
  env.allowLocalModels = true;
  env.allowRemoteModels = false;
  env.useFSCache = false;
}

export interface Tokenized {
  /** Kept ids of all texts, concatenated. */
  ids: Int32Array;
  /** Start of each text's ids in `ids`. */
  offsets: Int32Array;
  /** Ids kept per text (after truncation to MAX_TOKENS, specials included). */
  lengths: Int32Array;
  /** Texts that were longer than MAX_TOKENS before truncation. */
  truncated: number;
}

export async function loadTokenizer(modelDir: string) {
  useLocalModels(modelDir);
  return AutoTokenizer.from_pretrained(resolve(modelDir, MODEL_ID));
}

export async function tokenizeCorpus(modelDir: string, texts: readonly string[]): Promise<Tokenized> {
  const tokenizer = await loadTokenizer(modelDir);
  const encode = (text: string, special: boolean): number[] => tokenizer.encode(text, { add_special_tokens: special });
  const layout = detectSpecialLayout(encode);
  const kept: ArrayLike<number>[] = new Array(texts.length);
  const lengths = new Int32Array(texts.length);
  const offsets = new Int32Array(texts.length);
  let total = 0;
  let truncated = 0;
  for (let i = 0; i < texts.length; i++) {
    const ids = tokenizer.encode(texts[i] as string);
    if (ids.length > MAX_TOKENS) truncated++;
    const out = truncateIds(ids, MAX_TOKENS, layout);
    kept[i] = out;
    lengths[i] = out.length;
    offsets[i] = total;
    total += out.length;
  }
  const ids = new Int32Array(total);
  for (let i = 0; i < texts.length; i++) ids.set(kept[i] as ArrayLike<number>, offsets[i] as number);
  return { ids, offsets, lengths, truncated };
}

export function sum(values: ArrayLike<number>, from = 0, to = values.length): number {
  let total = 0;
  for (let i = from; i < to; i++) total += values[i] as number;
  return total;
}

/**
 * Padded tokens of fixed-size batches in corpus order, each padded to its longest member: what
 * `pipeline(texts.slice(i, i + size))` computes (it pads to the longest and truncates to 512).
 */
export function paddedInOrder(lengths: ArrayLike<number>, size: number, from = 0, to = lengths.length): number {
  let padded = 0;
  for (let start = from; start < to; start += size) {
    const end = Math.min(to, start + size);
    let longest = 1;
    for (let i = start; i < end; i++) longest = Math.max(longest, lengths[i] as number);
    padded += longest * (end - start);
  }
  return padded;
}

/** Very short texts (3-10 words) for the memory runs, where the corpus size matters, not the inference. */
export function* tinyCorpus(count: number, seed: number): Generator<{ id: string; text: string }> {
  const random = mulberry32(seed);
  for (let i = 0; i < count; i++) yield { id: `doc-${i}`, text: syntheticText(random, 3 + Math.floor(random() * 8)) };
}

export function corpusItems(spec: CorpusSpec | { kind: 'tiny'; count: number; seed: number }): Iterable<{ id: string; text: string }> {
  return spec.kind === 'tiny' ? tinyCorpus(spec.count, spec.seed) : syntheticCorpus(spec.count, corpusOptions(spec));
}
