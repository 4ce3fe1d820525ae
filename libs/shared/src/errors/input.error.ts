/** Codes a client can branch on; messages say what is wrong and where. */
export type InputErrorCode =
  | 'INVALID_JSON'
  | 'INVALID_UTF8'
  | 'INVALID_INPUT'
  | 'MISSING_TEXT'
  | 'EMPTY_CORPUS'
  | 'LINE_TOO_LONG'
  | 'TOO_MANY_INPUTS'
  | 'DUPLICATE_ID'
  | 'UNKNOWN_TASK'
  | 'UNKNOWN_MODEL'
  | 'INVALID_MODEL'
  | 'INVALID_OPTION'
  | 'BODY_TOO_LARGE'
  | 'UNSUPPORTED_MEDIA_TYPE';

/** A rejected request: the whole job is refused and nothing is enqueued. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    readonly code: InputErrorCode,
    message: string,
    readonly where: { line?: number; field?: string } = {},
    readonly status = code === 'BODY_TOO_LARGE' || code === 'LINE_TOO_LONG' ? 413 : code === 'UNSUPPORTED_MEDIA_TYPE' ? 415 : 400,
  ) {
    super(message);
  }
}
