import type { ApiRequest } from '../http/request.types.js';

/** The tenant of every request while authentication is off (neither API_KEYS_FILE nor API_KEYS set). */
export const DEFAULT_TENANT = 'default';

/**
 * Tenant names go into Redis keys (`${prefix}:jobs:<tenant>`) and log lines, so they are kept to a
 * plain alphabet with no ':' and a bounded length.
 */
export const TENANT_NAME = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The tenant the request acts for, set by AuthGuard before the route runs; controllers take it with
 * @Tenant(). Fails closed (a 500, never another tenant's data) on a request the guard did not see.
 */
export function tenantOf(req: ApiRequest): string {
  const tenant = (req as Partial<ApiRequest>).tenant;
  if (typeof tenant !== 'string' || tenant === '') {
    throw new Error('request has no tenant: AuthGuard did not run for this route (is it @Public()?)');
  }
  return tenant;
}
