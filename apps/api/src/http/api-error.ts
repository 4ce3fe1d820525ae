import { isRedisUnavailable } from '#shared';
/** Codes of errors about resources and request state (not the submitted corpus: that is InputError). */
export type ApiErrorCode =
  | 'JOB_NOT_FOUND'
  | 'JOB_NOT_FINISHED'
  | 'JOB_FINISHED'
  | 'JOB_RUNNING'
  | 'INVALID_QUERY'
  | 'UNSUPPORTED_FORMAT'
  | 'NOT_FOUND'
  | 'CLIENT_CLOSED_REQUEST'
  // Authentication and admission (apps/api/src/auth): 401 and 429, with WWW-Authenticate / Retry-After.
  | 'UNAUTHORIZED'
  // A route the tenant's key may not use that way (GET /v1/usage of another tenant): 403.
  | 'FORBIDDEN'
  | 'RATE_LIMITED'
  | 'TOO_MANY_JOBS'
  | 'BACKLOG_FULL'
  // Redis cannot be reached, or too few replicas confirmed a submission (REDIS_MIN_REPLICAS_ACK): 503 with Retry-After.
  | 'REDIS_UNAVAILABLE'
  | 'REDIS_NOT_REPLICATED'
  // Synchronous inference (POST /v1/rerank): not answered within SYNC_TIMEOUT_MS (504), or its item failed.
  | 'TIMEOUT'
  | 'TEXT_TOO_LONG'
  | 'INFERENCE_FAILED';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly status: number,
    readonly where: { field?: string } = {},
    /** Response headers that belong to the error (WWW-Authenticate, Retry-After). */
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }
}

/** A Redis connection error as the API's 503, or the error unchanged. */
export function redisUnavailableOr(error: unknown): unknown {
  return isRedisUnavailable(error) ? new ApiError('REDIS_UNAVAILABLE', 'the job store (Redis) cannot be reached; retry later', 503, {}, { 'Retry-After': '5' }) : error;
}

export const jobNotFound = (id: string): ApiError => new ApiError('JOB_NOT_FOUND', `no job with id ${JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id)}`, 404);
