import { Inject, Injectable, Logger, type NestMiddleware, type OnApplicationBootstrap } from '@nestjs/common';
import { ApiError } from '../http/api-error.js';
import { ErrorResponder } from '../http/error-responder.js';
import type { ApiRequest, ApiResponse } from '../http/request.types.js';
import type { ApiKeyRegistry } from './api-keys.js';
import { API_KEYS } from './auth.tokens.js';
import { RateLimiterService } from './rate-limiter.service.js';
import { DEFAULT_TENANT, PUBLIC_PATHS } from './tenant.js';

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/**
 * Resolves the tenant of every request outside PUBLIC_PATHS and applies its rate limit, before any
 * body is read (main.ts installs it ahead of the JSON body parser, see install-auth.ts).
 * Auth on: `Authorization: Bearer <key>` is required; a missing or unknown key is a 401 with
 * `WWW-Authenticate: Bearer`. Auth off: every request is tenant `default`.
 * Keys are never logged; neither is the Authorization header.
 */
@Injectable()
export class AuthMiddleware implements NestMiddleware, OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');

  constructor(
    @Inject(API_KEYS) private readonly keys: ApiKeyRegistry,
    private readonly limiter: RateLimiterService,
    private readonly responder: ErrorResponder,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.keys.enabled) {
      this.logger.warn('authentication is OFF (neither API_KEYS_FILE nor API_KEYS is set): every request acts as tenant "default"');
    } else {
      this.logger.log(`authentication on: ${this.keys.keyCount} key(s) for ${this.keys.tenantCount} tenant(s)`);
    }
  }

  use(req: ApiRequest, res: ApiResponse, next: (error?: unknown) => void): void {
    this.handle(req, res).then(
      (ok) => ok && next(),
      (error: unknown) => this.refuse(req, res, error),
    );
  }

  private async handle(req: ApiRequest, res: ApiResponse): Promise<boolean> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (PUBLIC_PATHS.has(path)) return true;
    let tenant = DEFAULT_TENANT;
    if (this.keys.enabled) {
      const header = req.headers.authorization;
      const match = typeof header === 'string' ? BEARER.exec(header) : null;
      const found = match ? this.keys.tenantFor(match[1] as string) : null;
      if (found === null) {
        this.refuse(req, res, unauthorized(match ? 'the API key is not valid' : 'send "Authorization: Bearer <API key>"'));
        return false;
      }
      tenant = found;
    }
    req.tenant = tenant;
    const decision = await this.limiter.take(tenant, this.keys.limitsOf(tenant));
    if (!decision.allowed) {
      this.refuse(
        req,
        res,
        new ApiError('RATE_LIMITED', `too many requests for this tenant; retry in ${decision.retryAfterSeconds} s`, 429, {}, { 'Retry-After': String(decision.retryAfterSeconds) }),
      );
      return false;
    }
    return true;
  }

  private refuse(req: ApiRequest, res: ApiResponse, error: unknown): void {
    // As in ApiExceptionFilter: an unread body is read on and dropped, so the client sees the answer.
    if (!req.complete) req.resume();
    this.responder.send(res, error);
  }
}

function unauthorized(message: string): ApiError {
  return new ApiError('UNAUTHORIZED', message, 401, {}, { 'WWW-Authenticate': 'Bearer realm="shardwise"' });
}
