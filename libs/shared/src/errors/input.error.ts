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
  | 'UNSUPPORTED_MEDIA_TYPE'
  /** The corpus a job names by reference (input_file_id, input_object) does not exist. */
  | 'INPUT_NOT_FOUND';

/** A rejected request: the whole job is refused and nothing is enqueued. */
export class InputError extends Error {
  override readonly name = 'InputError';
  constructor(
    readonly code: InputErrorCode,
    message: string,
    readonly where: { line?: number; field?: string } = {},
    readonly status = statusOf(code),
  ) {
    super(message);
  }
}

/** A job that can never be admitted as sent (too large in some way) is 413; a missing corpus 404. */
function statusOf(code: InputErrorCode): number {
  if (code === 'BODY_TOO_LARGE' || code === 'LINE_TOO_LONG' || code === 'TOO_MANY_INPUTS') return 413;
  if (code === 'UNSUPPORTED_MEDIA_TYPE') return 415;
  if (code === 'INPUT_NOT_FOUND') return 404;
  return 400;
}
