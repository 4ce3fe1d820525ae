/**
 * The reference for text pairs: transformers.js tokenizes the pair and runs the model; the pair is cut
 * token by token as Python's `longest_first` does (transformers.js would drop the closing special
 * token instead). Independent of libs/models' own pair code, which it checks.
 */
import { Tensor, type PreTrainedModel, type PreTrainedTokenizer } from '@huggingface/transformers';

export type Family = 'bert' | 'distilbert' | 'roberta';

/** Special tokens before, between and after the texts: [CLS] a [SEP] b [SEP]; <s> a </s></s> b </s>. */
const SPECIALS: Record<Family, [number, number, number]> = { bert: [1, 1, 1], distilbert: [1, 1, 1], roberta: [1, 2, 1] };

/** Python's longest_first one token at a time: the longer text loses its last token; on a tie, the one that was shorter to begin with (the first if equal). */
export function pythonKeep(aLength: number, bLength: number, room: number): [number, number] {
  let [a, b] = [aLength, bLength];
  const tieFromFirst = aLength <= bLength;
  while (a + b > room) {
    if (a > b || (a === b && tieFromFirst)) a--;
    else b--;
  }
  return [a, b];
}

export interface ReferencePair {
  ids: bigint[];
  types: bigint[];
  cut: boolean;
}

/** A pair as transformers.js tokenizes it, cut to `maxTokens` token by token as Python does. */
export function referencePairInput(tokenizer: PreTrainedTokenizer, family: Family, text: string, pair: string, maxTokens: number): ReferencePair {
  // transformers.js takes an empty text_pair for no pair: encode "x" as the second text and keep none of its tokens.
  const full = tokenizer(text, { text_pair: pair === '' ? 'x' : pair, return_token_type_ids: true }) as { input_ids: Tensor; token_type_ids?: Tensor };
  const ids = Array.from(full.input_ids.data as BigInt64Array);
  const types = full.token_type_ids ? Array.from(full.token_type_ids.data as BigInt64Array) : ids.map(() => 0n);
  const [pre, mid, post] = SPECIALS[family];
  const aLength = tokenizer.encode(text, { add_special_tokens: false }).length;
  const bLength = ids.length - pre - mid - post - aLength;
  const [aKeep, bKeep] = pythonKeep(aLength, pair === '' ? 0 : bLength, maxTokens - pre - mid - post);
  const keep = (xs: bigint[]) => [...xs.slice(0, pre + aKeep), ...xs.slice(pre + aLength, pre + aLength + mid + bKeep), ...xs.slice(xs.length - post)];
  return { ids: keep(ids), types: keep(types), cut: aKeep < aLength || bKeep < (pair === '' ? 0 : bLength) };
}

/** The model's logits for one pair, run alone (no padding). */
export async function referenceLogits(model: PreTrainedModel, family: Family, input: ReferencePair): Promise<number[]> {
  const dims = [1, input.ids.length];
  const feeds: Record<string, Tensor> = {
    input_ids: new Tensor('int64', BigInt64Array.from(input.ids), dims),
    attention_mask: new Tensor('int64', new BigInt64Array(input.ids.length).fill(1n), dims),
  };
  if (family === 'bert') feeds.token_type_ids = new Tensor('int64', BigInt64Array.from(input.types), dims);
  return Array.from((await model(feeds)).logits.data as Float32Array, Number);
}

export function softmax(logits: readonly number[]): number[] {
  const max = Math.max(...logits);
  const exps = logits.map((l) => Math.exp(l - max));
  const total = exps.reduce((s, e) => s + e, 0);
  return exps.map((e) => e / total);
}
