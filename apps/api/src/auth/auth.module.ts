import { Global, Module } from '@nestjs/common';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { AdmissionService } from './admission.service.js';
import { ApiKeyReloader } from './api-key-reloader.service.js';
import { ApiKeyRegistry } from './api-keys.js';
import { AuthMiddleware } from './auth.middleware.js';
import { API_KEYS } from './auth.tokens.js';
import { RateLimiterService } from './rate-limiter.service.js';

/**
 * API keys, tenants and per-tenant rate limits. The middleware is installed by main.ts (installAuth)
 * in front of the body parser; routes read the tenant with tenantOf(req).
 */
@Global()
@Module({
  providers: [
    // A bad key file stops the boot with a ConfigError naming the entry.
    { provide: API_KEYS, inject: [API_ENV], useFactory: (env: ApiEnv) => ApiKeyRegistry.load(env) },
    ApiKeyReloader,
    RateLimiterService,
    AuthMiddleware,
    AdmissionService,
  ],
  exports: [API_KEYS, RateLimiterService, AuthMiddleware, AdmissionService],
})
export class AuthModule {}
