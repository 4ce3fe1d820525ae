import { HttpException, Logger } from '@nestjs/common';
import { InputError } from '#shared';
import { ApiError, redisUnavailableOr } from '../http/api-error.js';

/** OpenAI's error body, which its SDKs parse into `APIError` subclasses (status, message, param, code, type). */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

/** An error of the OpenAI-compatible routes, answered in OpenAI's shape. */
export class OpenAIError extends Error {
  override readonly name = 'OpenAIError';
  constructor(
    readonly status: number,
    message: string,
    readonly param: string | null = null,
    readonly code: string | null = null,
    readonly type: string = status >= 500 ? 'server_error' : status === 429 ? 'rate_limit_error' : 'invalid_request_error',
  ) {
    super(message);
  }
}

export const notFound = (what: string, id: string): OpenAIError =>
  new OpenAIError(404, `No such ${what}: ${JSON.stringify(id.length > 80 ? `${id.slice(0, 80)}…` : id)}`, 'id', 'not_found');

const logger = new Logger('OpenAIErrors');

/**
 * Maps any error to OpenAI's shape. Shardwise's own errors keep their code in lower case
 * (`DUPLICATE_ID` -> `duplicate_id`) and their field as `param`; an unknown model is OpenAI's
 * 404 `model_not_found`. `headers` are the error's own (Retry-After of a 429 or 503), which
 * OpenAI's SDKs honour when they retry.
 */
export function toOpenAIError(thrown: unknown): { status: number; body: OpenAIErrorBody; headers: Readonly<Record<string, string>> } {
  const error = redisUnavailableOr(thrown);
  const body = (status: number, message: string, param: string | null, code: string | null, type?: string) => ({
    status,
    body: { error: { message, type: type ?? (status >= 500 ? 'server_error' : status === 429 ? 'rate_limit_error' : 'invalid_request_error'), param, code } },
    headers: error instanceof ApiError ? error.headers : {},
  });
  if (error instanceof OpenAIError) return body(error.status, error.message, error.param, error.code, error.type);
  if (error instanceof InputError) {
    if (error.code === 'UNKNOWN_MODEL') return body(404, error.message, error.where.field ?? 'model', 'model_not_found');
    return body(error.status, error.message, error.where.field ?? null, error.code.toLowerCase());
  }
  if (error instanceof ApiError) return body(error.status, error.message, error.where.field ?? null, error.code.toLowerCase());
  if (error instanceof HttpException && error.getStatus() < 500) return body(error.getStatus(), error.message, null, null);
  logger.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
  return body(500, 'internal error', null, null);
}
