import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { API_NODE_FLAGS } from '#shared';
import { DIST, ROOT } from './dist.js';

export const API_ENTRY = resolve(DIST, 'apps/api/src/main.js');
export const WORKER_ENTRY = resolve(DIST, 'apps/worker/src/main.js');

export interface AppProcess {
  process: ChildProcess;
  baseUrl: string;
  output(): string;
  /** Sends a signal and waits for the exit; SIGKILL cannot be caught, which is the point of some tests. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the built API or worker and waits until its /readyz answers 200. */
export async function startApp(entry: string, env: Record<string, string>, port: number, readyTimeoutMs = 120_000): Promise<AppProcess> {
  // The API runs with the flags it has in production (API_NODE_FLAGS).
  const child = spawn(process.execPath, [...(entry === API_ENTRY ? API_NODE_FLAGS : []), entry], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let log = '';
  const keep = (chunk: Buffer) => {
    log += chunk.toString();
    if (log.length > 200_000) log = log.slice(-100_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}:\n${log}`);
    try {
      const response = await fetch(`${baseUrl}/readyz`);
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`${entry} not ready after ${readyTimeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    process: child,
    baseUrl,
    output: () => log,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
      const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}
