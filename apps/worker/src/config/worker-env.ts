import type { WorkerEnv } from '#shared';

/** The validated environment, loaded once in main.ts; nothing else in the worker reads process.env. */
export const WORKER_ENV = Symbol('WORKER_ENV');

export type { WorkerEnv };
