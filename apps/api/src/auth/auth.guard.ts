import { Inject, Injectable, Logger, type CanActivate, type ExecutionContext, type OnApplicationBootstrap } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import { ApiError } from '../http/api-error.js';
import { EarlyRefusal } from '../http/early-refusal.js';
import { ErrorResponder } from '../http/error-responder.js';
import type { ApiRequest } from '../http/request.types.js';
import type { ApiKeyRegistry } from './api-keys.js';
import { API_KEYS } from './auth.tokens.js';
import { IS_PUBLIC } from './public.decorator.js';
import { RateLimiterService } from './rate-limiter.service.js';
import { DEFAULT_TENANT } from './tenant.js';

const BEARER = /^Bearer[ \t]+([^\s]+)[ \t]*$/i;

/**
 * Resolves the tenant of every request to a route not marked @Public() and applies its rate limit,
 * before any body is read (JSON bodies are parsed behind the guards, by JsonBodyInterceptor).
 * Auth on: `Authorization: Bearer <key>` is required; a missing or unknown key is a 401 with
 * `WWW-Authenticate: Bearer`. Auth off: every request is tenant `default`. Routes read the tenant
 * with @Tenant(). Keys are never logged; neither is the Authorization header.
 */
@Injectable()
export class AuthGuard implements CanActivate, OnApplicationBootstrap {
  private readonly logger = new Logger('Auth');

  constructor(
    @Inject(API_KEYS) private readonly keys: ApiKeyRegistry,
    private readonly limiter: RateLimiterService,
    private readonly responder: ErrorResponder,
    private readonly reflector: Reflector,
  ) {}

  onApplicationBootstrap(): void {
    if (!this.keys.enabled) {
      this.logger.warn('authentication is OFF (neither API_KEYS_FILE nor API_KEYS is set): every request acts as tenant "default"');
    } else {
      this.logger.log(`authentication on: ${this.keys.keyCount} key(s) for ${this.keys.tenantCount} tenant(s)`);
    }
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (this.reflector.getAllAndOverride<boolean>(IS_PUBLIC, [context.getHandler(), context.getClass()]) === true) return true;
    await this.authenticate(context.switchToHttp().getRequest<ApiRequest>());
    return true;
  }

  /**
   * Sets `req.tenant`, or throws the refusal (an EarlyRefusal, answered in the API's error shape on
   * every route). Also used in front of the Swagger routes, which are not Nest routes.
   */
  async authenticate(req: ApiRequest): Promise<void> {
    try {
      const tenant = this.tenantFor(req);
      req.tenant = tenant;
      const decision = await this.limiter.take(tenant, this.keys.limitsOf(tenant));
      if (!decision.allowed) {
        throw new ApiError(
          'RATE_LIMITED',
          `too many requests for this tenant; retry in ${decision.retryAfterSeconds} s`,
          429,
          {},
          { 'Retry-After': String(decision.retryAfterSeconds) },
        );
      }
    } catch (error) {
      throw new EarlyRefusal(error, (res) => this.responder.send(res, error));
    }
  }

  private tenantFor(req: ApiRequest): string {
    if (!this.keys.enabled) return DEFAULT_TENANT;
    const header = req.headers.authorization;
    const match = typeof header === 'string' ? BEARER.exec(header) : null;
    const found = match ? this.keys.tenantFor(match[1] as string) : null;
    if (found === null) throw unauthorized(match ? 'the API key is not valid' : 'send "Authorization: Bearer <API key>"');
    return found;
  }
}

function unauthorized(message: string): ApiError {
  return new ApiError('UNAUTHORIZED', message, 401, {}, { 'WWW-Authenticate': 'Bearer realm="shardwise"' });
}
