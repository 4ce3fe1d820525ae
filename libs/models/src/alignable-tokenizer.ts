/**
 * The alignable view (token-alignment.ts) of a loaded transformers.js tokenizer. Thread side only:
 * it reads the tokenizer's `tokenizers` core, which only the inference thread holds.
 */
import type { PreTrainedTokenizer } from '@huggingface/transformers';
import type { AlignableTokenizer } from './token-alignment.js';

/** The parts of a transformers.js tokenizer (its `tokenizers` core) that token alignment reads. */
export function alignableTokenizer(tokenizer: PreTrainedTokenizer): AlignableTokenizer {
  const core = (tokenizer as unknown as { _tokenizer: TokenizerCore })._tokenizer;
  const prefix = core.model.config?.continuing_subword_prefix;
  const unk = core.model.config?.unk_token;
  const unkId = typeof unk === 'string' ? core.token_to_id(unk) : undefined;
  return {
    idToToken: (id) => core.id_to_token(id) ?? '',
    // [UNK] stands for text (Python's special_tokens_mask leaves it out too).
    specialIds: new Set(tokenizer.all_special_ids.filter((id) => id !== unkId)),
    unkId,
    continuationPrefix: typeof prefix === 'string' && prefix !== '' ? prefix : undefined,
    byteLevel: core.decoder?.config?.type === 'ByteLevel' || core.pre_tokenizer?.config?.type === 'ByteLevel',
    normalize: core.normalizer ? (text) => (core.normalizer as (text: string) => string)(text) : undefined,
  };
}

/** The fields of @huggingface/tokenizers' Tokenizer used above (not part of transformers.js's typed API). */
interface TokenizerCore {
  model: { config?: { continuing_subword_prefix?: unknown; unk_token?: unknown } };
  decoder?: { config?: { type?: string } } | null;
  pre_tokenizer?: { config?: { type?: string } } | null;
  normalizer?: ((text: string) => string) | null;
  id_to_token(id: number): string | undefined;
  token_to_id(token: string): number | undefined;
}
