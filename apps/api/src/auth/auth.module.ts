import { Global, Module } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { AdmissionService } from './admission.service.js';
import { ApiKeyReloader } from './api-key-reloader.service.js';
import { ApiKeyRegistry } from './api-keys.js';
import { AuthGuard } from './auth.guard.js';
import { API_KEYS } from './auth.tokens.js';
import { RateLimiterService } from './rate-limiter.service.js';

/**
 * API keys, tenants and per-tenant rate limits. AuthGuard guards every route (APP_GUARD) but those
 * marked @Public(); routes read the tenant with @Tenant().
 */
@Global()
@Module({
  providers: [
    // A bad key file stops the boot with a ConfigError naming the entry.
    { provide: API_KEYS, inject: [API_ENV], useFactory: (env: ApiEnv) => ApiKeyRegistry.load(env) },
    ApiKeyReloader,
    RateLimiterService,
    AuthGuard,
    { provide: APP_GUARD, useExisting: AuthGuard },
    AdmissionService,
  ],
  exports: [API_KEYS, RateLimiterService, AuthGuard, AdmissionService],
})
export class AuthModule {}
