/** What a tokenizer builder hands to the model writer. */

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface TokenizerArtifacts {
  /** tokenizer.json in Hugging Face tokenizers format. */
  tokenizerJson: JsonObject;
  /** tokenizer_config.json (class, special tokens, model_max_length). */
  tokenizerConfig: JsonObject;
  /** Embedding rows the model needs (largest id + 1). */
  vocabSize: number;
}

export interface AddedToken {
  id: number;
  content: string;
  /** RoBERTa's <mask> swallows the space before it, like the original. */
  lstrip?: boolean;
}

/** added_tokens entries: special, never normalized, matched as-is. */
export function addedTokens(tokens: AddedToken[]): JsonValue[] {
  return tokens.map(({ id, content, lstrip = false }) => ({
    id,
    content,
    single_word: false,
    lstrip,
    rstrip: false,
    normalized: false,
    special: true,
  }));
}
