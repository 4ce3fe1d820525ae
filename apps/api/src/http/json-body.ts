import type { NestExpressApplication } from '@nestjs/platform-express';
import { InputError } from '../../../../libs/shared/src/index.js';
import { ApiError } from './api-error.js';
import type { ErrorResponder } from './error-responder.js';
import type { ApiRequest, ApiResponse } from './request.types.js';

/** What body-parser attaches to its errors. */
interface BodyParserError extends Error {
  type?: string;
  status?: number;
}

/**
 * express.json for application/json requests only (it ignores other types), so NDJSON bodies
 * stay unread streams for the job service. Its errors happen before Nest's pipeline, so an
 * Express error handler right behind it maps them to the API's error shape.
 */
export function installJsonBody(app: NestExpressApplication, limitBytes: number, responder: ErrorResponder): void {
  // verify: invalid UTF-8 is refused (INVALID_UTF8) as for NDJSON lines, instead of decoding to U+FFFD silently.
  app.useBodyParser('json', { limit: limitBytes, verify: verifyUtf8 });
  // body-parser has read the whole body off by the time it reports an error, so the response is seen.
  app.use((error: BodyParserError, _req: ApiRequest, res: ApiResponse, _next: (error?: unknown) => void) => {
    responder.send(res, toApiError(error, limitBytes));
  });
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** body-parser's verify hook: runs on the raw bytes before they are decoded. */
function verifyUtf8(req: ApiRequest, _res: ApiResponse, buf: Buffer): void {
  const charset = /;\s*charset\s*=\s*"?([^";]+)/i
    .exec(String(req.headers['content-type'] ?? ''))?.[1]
    ?.trim()
    .toLowerCase();
  if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return;
  utf8.decode(buf);
}

function toApiError(error: BodyParserError, limitBytes: number): Error {
  switch (error.type) {
    case 'entity.too.large':
      return new InputError('BODY_TOO_LARGE', `JSON bodies are limited to ${limitBytes} bytes (MAX_JSON_BODY_BYTES); send large jobs as application/x-ndjson`);
    case 'entity.verify.failed':
      return new InputError('INVALID_UTF8', 'the request body is not valid UTF-8');
    case 'entity.parse.failed':
      return new InputError('INVALID_JSON', `the request body is not valid JSON (${error.message})`);
    case 'charset.unsupported':
    case 'encoding.unsupported':
      return new InputError('UNSUPPORTED_MEDIA_TYPE', error.message);
    case 'request.aborted':
      return new ApiError('CLIENT_CLOSED_REQUEST', 'the client closed the connection before the body ended', 499);
    default:
      if (error.status !== undefined && error.status >= 400 && error.status < 500) return new InputError('INVALID_INPUT', error.message);
      return error;
  }
}
