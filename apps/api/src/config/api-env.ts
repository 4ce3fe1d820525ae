import type { ApiEnv } from '#shared';

/** Injection token of the environment, read and validated once at boot (main.ts, loadEnv). */
export const API_ENV = Symbol('API_ENV');

export type { ApiEnv };

/** The tenant of every request while auth is off; requests carry theirs, read with tenantOf(req) (apps/api/src/auth/tenant.ts). */
export { DEFAULT_TENANT } from '../auth/tenant.js';
