import type { ResultLine } from '#shared';
import type { OpenAIEndpoint } from './openai-request.js';

export type { ResultLine };

export interface EmbeddingItem {
  object: 'embedding';
  index: number;
  embedding: number[] | string;
}

export interface ClassificationItem {
  object: 'classification';
  index: number;
  label: string;
  score: number;
  scores: Record<string, number>;
}

/** The body of a successful /v1/embeddings or /v1/classifications response (also inside batch output lines). */
export interface InferenceResponseBody {
  object: 'list';
  data: EmbeddingItem[] | ClassificationItem[];
  model: string;
  usage: { prompt_tokens: number; total_tokens: number };
}

/** float32 little-endian bytes, base64: what OpenAI sends for encoding_format "base64" (and its SDKs decode). */
export function float32Base64(values: readonly number[]): string {
  const bytes = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) bytes.writeFloatLE(values[i] as number, i * 4);
  return bytes.toString('base64');
}

/** Builds the response body from the result lines of one request's inputs, all successful, in order. */
export function responseBody(endpoint: OpenAIEndpoint, model: string, lines: readonly ResultLine[], encodingFormat: 'float' | 'base64'): InferenceResponseBody {
  let tokens = 0;
  for (const line of lines) tokens += line.tokens ?? 0;
  const data =
    endpoint === '/v1/embeddings'
      ? lines.map(
          (line, index): EmbeddingItem => ({
            object: 'embedding',
            index,
            embedding: encodingFormat === 'base64' ? float32Base64(line.embedding ?? []) : (line.embedding ?? []),
          }),
        )
      : lines.map(
          (line, index): ClassificationItem => ({
            object: 'classification',
            index,
            label: line.label ?? '',
            score: line.score ?? 0,
            scores: line.scores ?? {},
          }),
        );
  return { object: 'list', data: data as InferenceResponseBody['data'], model, usage: { prompt_tokens: tokens, total_tokens: tokens } };
}

/**
 * The error of a request whose inputs did not all succeed: the first failed input's, its code in
 * lower case (`text_too_long`, `inference_failed`, `shard_failed`), its position named when the
 * request had several inputs.
 */
export function requestError(lines: readonly (ResultLine | undefined)[], several: boolean, missing: { code: string; message: string }): { code: string; message: string } {
  for (let position = 0; position < lines.length; position++) {
    const line = lines[position];
    if (line === undefined) return missing;
    if (line.error) {
      const message = several ? `input[${position}]: ${line.error.message}` : line.error.message;
      return { code: line.error.code.toLowerCase(), message };
    }
  }
  return missing;
}
