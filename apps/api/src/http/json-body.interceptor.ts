import { createRequire } from 'node:module';
import { Inject, Injectable, type CallHandler, type ExecutionContext, type NestInterceptor } from '@nestjs/common';
import type { Observable } from 'rxjs';
import { InputError } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { isOpenAIJsonRoute, readOpenAIJson } from '../openai/openai-json-body.js';
import { ApiError } from './api-error.js';
import { EarlyRefusal } from './early-refusal.js';
import { ErrorResponder } from './error-responder.js';
import type { ApiRequest, ApiResponse } from './request.types.js';
import { sendJson } from './send-json.js';
import { toOpenAIError } from '../openai/openai-error.js';

type Middleware = (req: ApiRequest, res: ApiResponse, next: (error?: unknown) => void) => void;

/** What body-parser attaches to its errors. */
interface BodyParserError extends Error {
  type?: string;
  status?: number;
}

// express.json, the parser Nest's useBodyParser installs (the express that @nestjs/platform-express runs on).
const { json } = createRequire(import.meta.url)('express') as {
  json: (options: { limit: number; verify: (req: ApiRequest, res: ApiResponse, buf: Buffer) => void }) => Middleware;
};

/**
 * Reads application/json bodies behind the guards, so an unauthenticated or rate-limited body is
 * never parsed; NDJSON and multipart bodies stay unread streams for their handlers. The
 * OpenAI-compatible routes (OPENAI_JSON_ROUTES) answer a bad body in OpenAI's error shape, every
 * other route in the API's.
 */
@Injectable()
export class JsonBodyInterceptor implements NestInterceptor {
  private readonly parse: Middleware;

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly responder: ErrorResponder,
  ) {
    // verify: invalid UTF-8 is refused (INVALID_UTF8) as for NDJSON lines, instead of decoding to U+FFFD silently.
    this.parse = json({ limit: env.MAX_JSON_BODY_BYTES, verify: verifyUtf8 });
  }

  async intercept(context: ExecutionContext, next: CallHandler): Promise<Observable<unknown>> {
    if (context.getType() === 'http') {
      const http = context.switchToHttp();
      await this.read(http.getRequest<ApiRequest>(), http.getResponse<ApiResponse>());
    }
    return next.handle();
  }

  private async read(req: ApiRequest, res: ApiResponse): Promise<void> {
    const limit = this.env.MAX_JSON_BODY_BYTES;
    if (isOpenAIJsonRoute(req)) {
      try {
        const body = await readOpenAIJson(req, limit);
        if (body !== null) {
          req.body = body.value;
          return;
        }
      } catch (error) {
        throw new EarlyRefusal(error, (out) => {
          const { status, body } = toOpenAIError(error);
          if (!out.headersSent && !out.destroyed) sendJson(out, status, body);
        });
      }
    }
    // body-parser has read the whole body off by the time it reports an error, so the response is seen.
    await new Promise<void>((resolve, reject) =>
      this.parse(req, res, (error) => {
        if (error === undefined) return resolve();
        const refused = toApiError(error as BodyParserError, limit);
        reject(new EarlyRefusal(refused, (out) => this.responder.send(out, refused)));
      }),
    );
  }
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
