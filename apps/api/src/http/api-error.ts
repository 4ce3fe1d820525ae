/** Codes of errors about resources and request state (not the submitted corpus: that is InputError). */
export type ApiErrorCode =
  | 'JOB_NOT_FOUND'
  | 'JOB_NOT_FINISHED'
  | 'JOB_FINISHED'
  | 'INVALID_QUERY'
  | 'UNSUPPORTED_FORMAT'
  | 'NOT_FOUND'
  | 'CLIENT_CLOSED_REQUEST';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly code: ApiErrorCode,
    message: string,
    readonly status: number,
    readonly where: { field?: string } = {},
  ) {
    super(message);
  }
}

export const jobNotFound = (id: string): ApiError =>
  new ApiError('JOB_NOT_FOUND', `no job with id ${JSON.stringify(id.length > 64 ? `${id.slice(0, 64)}…` : id)}`, 404);
