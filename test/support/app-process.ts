import { resolve } from 'node:path';
import { API_NODE_FLAGS } from '#shared';
import { startApp as startChild, type AppProcess } from '../../tools/processes.js';
import { DIST, ROOT } from './dist.js';

export type { AppProcess };

export const API_ENTRY = resolve(DIST, 'apps/api/src/main.js');
export const WORKER_ENTRY = resolve(DIST, 'apps/worker/src/main.js');

/** Starts the built API or worker and waits until its /readyz answers 200; the API runs with the flags it has in production (API_NODE_FLAGS). */
export function startApp(entry: string, env: Record<string, string>, port: number, readyTimeoutMs = 120_000): Promise<AppProcess> {
  return startChild(entry, env, port, { cwd: ROOT, readyTimeoutMs, nodeArgs: entry === API_ENTRY ? API_NODE_FLAGS : [] });
}
