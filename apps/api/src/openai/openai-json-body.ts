import type { NestExpressApplication } from '@nestjs/platform-express';
import type { ApiRequest, ApiResponse } from '../http/request.types.js';
import { sendJson } from '../http/send-json.js';
import { OpenAIError, toOpenAIError } from './openai-error.js';

/** The OpenAI-compatible routes that take JSON bodies. */
export const OPENAI_JSON_ROUTES = ['/v1/batches', '/v1/embeddings', '/v1/classifications'];

/**
 * JSON parsing for the OpenAI-compatible routes, mounted before the API's own JSON parser (which
 * skips bodies already read) so that a bad body is answered in OpenAI's error shape. Must be
 * installed before installJsonBody. Only application/json bodies are read; the controllers refuse
 * anything else.
 */
export function installOpenAIJsonBody(app: NestExpressApplication, limitBytes: number): void {
  app.use(OPENAI_JSON_ROUTES, (req: ApiRequest, res: ApiResponse, next: (error?: unknown) => void) => {
    const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase();
    if (type !== 'application/json' || req.method === 'GET' || req.method === 'HEAD') {
      next();
      return;
    }
    readJson(req, limitBytes).then(
      (body) => {
        req.body = body;
        next();
      },
      (error: unknown) => {
        // The body was read to its end (or the client left): the answer is seen, the socket kept.
        const { status, body } = toOpenAIError(error);
        if (!res.headersSent && !res.destroyed) sendJson(res, status, body);
      },
    );
  });
}

async function readJson(req: ApiRequest, limitBytes: number): Promise<unknown> {
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
  if (bytes === 0) return undefined;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks, bytes));
  } catch {
    throw new OpenAIError(400, 'the request body is not valid UTF-8', null, 'invalid_utf8');
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new OpenAIError(400, `We could not parse the JSON body of your request (${(error as Error).message})`, null, 'invalid_json');
  }
}
