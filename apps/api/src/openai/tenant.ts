/** The tenant of a request (auth and tenancy's helper; 'default' while auth is off). */
export { tenantOf } from '../auth/tenant.js';
