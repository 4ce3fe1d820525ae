import type { ApiRequest } from '../http/request.types.js';
import { OpenAIError } from './openai-error.js';

/** The OpenAI-compatible routes that take JSON bodies (each path and what lies below it). */
export const OPENAI_JSON_ROUTES = ['/v1/batches', '/v1/embeddings', '/v1/classifications'];

/** Whether the request goes to one of OPENAI_JSON_ROUTES, matched as Express mounts a path (case-insensitive, whole segments). */
export function isOpenAIJsonRoute(req: ApiRequest): boolean {
  const path = ((req.originalUrl ?? req.url ?? '/').split('?')[0] ?? '/').toLowerCase();
  return OPENAI_JSON_ROUTES.some((route) => path === route || path.startsWith(`${route}/`));
}

/**
 * JSON parsing for the OpenAI-compatible routes, so that a bad body is answered in OpenAI's error
 * shape (JsonBodyInterceptor calls it before the API's own parser, which skips bodies already
 * read). Only application/json bodies other than GET and HEAD are read (null otherwise, the body
 * left for the API's parser); the controllers refuse anything else.
 */
export async function readOpenAIJson(req: ApiRequest, limitBytes: number): Promise<{ value: unknown } | null> {
  const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json' || req.method === 'GET' || req.method === 'HEAD') return null;
  const encoding = (req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  const chunks: Buffer[] = [];
  let bytes = 0;
  let tooLarge = false;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    bytes += chunk.length;
    if (bytes > limitBytes)
      tooLarge = true; // read on and discard, so the client sees the answer
    else chunks.push(chunk);
  }
  if (encoding !== 'identity') throw new OpenAIError(415, `Content-Encoding "${encoding}" is not supported; send the body uncompressed`, null, 'unsupported_media_type');
  if (tooLarge) throw new OpenAIError(413, `JSON bodies are limited to ${limitBytes} bytes (MAX_JSON_BODY_BYTES)`, null, 'body_too_large');
  if (bytes === 0) return { value: undefined };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, bytes));
  } catch {
    throw new OpenAIError(400, 'the request body is not valid UTF-8', null, 'invalid_utf8');
  }
  try {
    return { value: JSON.parse(text) };
  } catch (error) {
    throw new OpenAIError(400, `We could not parse the JSON body of your request (${(error as Error).message})`, null, 'invalid_json');
  }
}
