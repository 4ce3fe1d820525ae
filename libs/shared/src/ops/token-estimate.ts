/**
 * Token estimates for work that has not been tokenized yet (the queue backlog). The API only sees
 * text, so it estimates from UTF-8 bytes: about 4 bytes per token for English WordPiece/BPE
 * vocabularies, plus the two special tokens every encoder adds ([CLS] … [SEP], <s> … </s>), capped
 * at the model's maximum sequence length (longer texts are truncated, or fail without inference).
 * The JobStore corrects the estimate of each job with the real counts of its finished shards.
 */
export const BYTES_PER_TOKEN = 4;
export const SPECIAL_TOKENS = 2;
/** Cap used when the API does not know the model (Hub models without MODEL_DIR): BERT's 512. */
export const DEFAULT_MAX_TOKENS = 512;

export function estimateTokens(text: string, maxTokens: number = DEFAULT_MAX_TOKENS): number {
  return estimateTokensOfBytes(Buffer.byteLength(text, 'utf8'), maxTokens);
}

/** The same from the text's UTF-8 length, for callers that have it already. */
export function estimateTokensOfBytes(bytes: number, maxTokens: number = DEFAULT_MAX_TOKENS): number {
  return Math.min(maxTokens, Math.ceil(bytes / BYTES_PER_TOKEN) + SPECIAL_TOKENS);
}

export function estimateShardTokens(items: ReadonlyArray<{ text: string }>, maxTokens: number = DEFAULT_MAX_TOKENS): number {
  let total = 0;
  for (const item of items) total += estimateTokens(item.text, maxTokens);
  return total;
}
