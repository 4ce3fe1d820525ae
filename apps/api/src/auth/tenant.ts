import type { ApiRequest } from '../http/request.types.js';

/** The tenant of every request while authentication is off (neither API_KEYS_FILE nor API_KEYS set). */
export const DEFAULT_TENANT = 'default';

/**
 * Tenant names go into Redis keys (`${prefix}:jobs:<tenant>`) and log lines, so they are kept to a
 * plain alphabet with no ':' and a bounded length.
 */
export const TENANT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * Paths served without authentication (probes and scraping). Everything else, /v1 included, needs
 * `Authorization: Bearer <key>` while auth is on: the list is an allowlist, so a new route is
 * protected unless it is added here on purpose.
 */
export const PUBLIC_PATHS: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);

/**
 * The tenant the request acts for, set by AuthMiddleware before any route runs. Read it only through
 * this helper: it fails closed (a 500, never another tenant's data) on a request the middleware did
 * not see.
 */
export function tenantOf(req: ApiRequest): string {
  const tenant = (req as Partial<ApiRequest>).tenant;
  if (typeof tenant !== 'string' || tenant === '') {
    throw new Error('request has no tenant: AuthMiddleware did not run for this route (see apps/api/src/auth/install-auth.ts)');
  }
  return tenant;
}
