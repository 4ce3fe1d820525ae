import type { ApiResponse } from './request.types.js';

/**
 * A request refused before its handler ran (authentication, rate limit, an unreadable JSON body),
 * answered the same way whichever exception filter catches it: on the OpenAI routes too, a 401 or
 * 429 keeps the API's own shape and its WWW-Authenticate / Retry-After headers.
 */
export class EarlyRefusal extends Error {
  override readonly name = 'EarlyRefusal';
  constructor(
    readonly error: unknown,
    /** Writes the answer; the filters call it once they have set the unread body draining. */
    readonly respond: (res: ApiResponse) => void,
  ) {
    super(error instanceof Error ? error.message : String(error));
  }
}
