import type { ApiEnv } from '../../../../libs/shared/src/index.js';

/** Injection token of the environment, read and validated once at boot (main.ts, loadEnv). */
export const API_ENV = Symbol('API_ENV');

export type { ApiEnv };

/** Jobs are not split by tenant yet; every job lives in this one list. */
export const DEFAULT_TENANT = 'default';
