import type { ChildProcess } from 'node:child_process';
import { Redis, type RedisOptions } from 'ioredis';

/** One command on a fresh connection that never retries: the reply, or null when nothing answers there. */
export async function askRedis(where: RedisOptions, command: readonly string[]): Promise<unknown> {
  const client = new Redis({ connectTimeout: 1000, ...where, lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  client.on('error', () => undefined); // refused connections are expected while a server starts or is down
  try {
    await client.connect();
    return await client.call(command[0]!, ...command.slice(1));
  } catch {
    return null;
  } finally {
    client.disconnect();
  }
}

/** Polls `check` every `intervalMs` until it holds; throws naming `what` after `timeoutMs`. */
export async function waitUntil(check: () => Promise<boolean>, timeoutMs: number, what: string, intervalMs = 200): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** SIGKILL, resolved once the process is gone; nothing for one that already exited. */
export async function killProcess(child: ChildProcess | undefined): Promise<void> {
  if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await exited;
}
