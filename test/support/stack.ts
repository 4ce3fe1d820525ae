import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { ndjsonChunks, TERMINAL_STATES, type JobView } from '#shared';
import { API_ENTRY, startApp, WORKER_ENTRY, type AppProcess } from './app-process.js';
import { freePort, startRedis, type RedisHandle } from './redis-server.js';

/**
 * Test plumbing for the reliability and security suites: a private Redis, APIs and workers started
 * and stopped by the test (kill -9, SIGTERM, restarts on the same port), an HTTP client that can
 * send an API key, and the exactly-once tally every fault test ends with.
 */
/** An API key in the format keys:create prints, and the SHA-256 hex the API is configured with. */
export const newApiKey = (): string => `sw_${randomBytes(32).toString('base64url')}`;
export const sha256Hex = (text: string): string => createHash('sha256').update(text).digest('hex');

export const MODEL_DIR = resolve(import.meta.dirname, '../../.cache/models');
export const TINY_EMBED = 'shardwise-random/bert-tiny-embed';
export const MINILM_EMBED = 'shardwise-random/bert-minilm-embed';

export type { JobView };

/** One line of GET /v1/jobs/:id/results. */
export type ResultLine =
  | { id: string; index: number; embedding: number[]; truncated?: boolean }
  | { id: string; index: number; label: string; score: number; scores: Record<string, number>; truncated?: boolean }
  | { id: string; index: number; ranking: Array<{ index: number; score: number; text?: string }>; truncated?: boolean }
  | { id: string; index: number; error: { code: string; message: string } };

export interface StackOptions {
  prefix?: string;
  redis?: { appendonly?: boolean; dir?: string; port?: number };
  modelDir?: string;
  /** Env of every API and worker. */
  env?: Record<string, string>;
}

export class Stack {
  redis!: RedisHandle;
  resultsDir!: string;
  readonly apis: AppProcess[] = [];
  readonly workers: AppProcess[] = [];
  private redisClient: Redis | undefined;
  private ownDirs: string[] = [];

  private constructor(readonly options: StackOptions) {}

  static async start(options: StackOptions = {}): Promise<Stack> {
    const stack = new Stack(options);
    stack.redis = await startRedis(options.redis ?? {});
    stack.resultsDir = await mkdtemp(join(tmpdir(), 'sw-results-'));
    stack.ownDirs.push(stack.resultsDir);
    return stack;
  }

  get prefix(): string {
    return this.options.prefix ?? 'sw';
  }

  common(): Record<string, string> {
    return {
      REDIS_URL: this.redis.url,
      REDIS_PREFIX: this.prefix,
      MODEL_DIR: this.options.modelDir ?? MODEL_DIR,
      RESULTS_DIR: this.resultsDir,
      ...this.options.env,
    };
  }

  async startApi(env: Record<string, string> = {}, port?: number): Promise<AppProcess> {
    const p = port ?? (await freePort());
    const api = await startApp(API_ENTRY, { ...this.common(), PORT: String(p), ...env }, p, 60_000);
    this.apis.push(api);
    return api;
  }

  async startWorker(env: Record<string, string> = {}, port?: number): Promise<AppProcess> {
    const p = port ?? (await freePort());
    const worker = await startApp(WORKER_ENTRY, { ...this.common(), WORKER_PORT: String(p), INFERENCE_THREADS: '1', ...env }, p);
    this.workers.push(worker);
    return worker;
  }

  /** A plain client of the test's Redis (its own connection, closed by stop()). */
  client(): Redis {
    this.redisClient ??= new Redis(this.redis.url, { maxRetriesPerRequest: null });
    this.redisClient.on('error', () => undefined);
    return this.redisClient;
  }

  queue(): Queue {
    return new Queue('shards', { connection: { url: this.redis.url }, prefix: `${this.prefix}:bull` });
  }

  /** Every log line the APIs and workers of this stack wrote (stopped ones included). */
  logs(): string {
    return [...this.apis, ...this.workers].map((app) => app.output()).join('\n');
  }

  tempDir(path: string): void {
    this.ownDirs.push(path);
  }

  async stop(): Promise<void> {
    for (const app of [...this.workers, ...this.apis]) await app.stop('SIGKILL').catch(() => undefined);
    this.redisClient?.disconnect();
    await this.redis?.stop();
    for (const dir of this.ownDirs) await rm(dir, { recursive: true, force: true });
  }
}

// --- HTTP client (optionally with an API key) ---

export interface Reply<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
}

export function authHeaders(key?: string): Record<string, string> {
  return key === undefined ? {} : { authorization: `Bearer ${key}` };
}

export async function request<T = Record<string, unknown>>(base: string, path: string, init: RequestInit & { key?: string } = {}): Promise<Reply<T>> {
  const { key, headers, ...rest } = init;
  const response = await fetch(`${base}${path}`, { ...rest, headers: { ...authHeaders(key), ...(headers as Record<string, string> | undefined) } });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: response.status, headers: response.headers, body: body as T };
}

export async function postJob(base: string, job: Record<string, unknown>, key?: string): Promise<Reply> {
  return request(base, '/v1/jobs', { method: 'POST', key, headers: { 'content-type': 'application/json' }, body: JSON.stringify(job) });
}

/** Streams items as NDJSON; `pace` (ms between chunks of `chunk` lines) makes a slow upload. */
export async function postNdjson(
  base: string,
  params: Record<string, string>,
  items: Iterable<object> | AsyncIterable<object>,
  options: { key?: string; signal?: AbortSignal; chunkBytes?: number } = {},
): Promise<Reply> {
  const response = await fetch(`${base}/v1/jobs?${new URLSearchParams(params)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson', ...authHeaders(options.key) },
    body: Readable.toWeb(Readable.from(ndjsonChunks(items, options.chunkBytes ?? 32 * 1024))) as ReadableStream,
    duplex: 'half',
    signal: options.signal,
  } as RequestInit);
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

export async function jobOf(base: string, id: string, key?: string): Promise<JobView> {
  const reply = await request<JobView>(base, `/v1/jobs/${id}`, { key });
  if (reply.status !== 200) throw new Error(`GET job ${id}: ${reply.status} ${JSON.stringify(reply.body)}`);
  return reply.body;
}

/** Polls until `until` holds; Redis or API outages in between are retried (that is what some tests cause). */
export async function waitFor(base: string, id: string, until: (job: JobView) => boolean, options: { timeoutMs?: number; key?: string } = {}): Promise<JobView> {
  const deadline = Date.now() + (options.timeoutMs ?? 120_000);
  let last: JobView | undefined;
  let lastError = '';
  for (;;) {
    try {
      last = await jobOf(base, id, options.key);
      if (until(last)) return last;
    } catch (error) {
      lastError = (error as Error).message;
    }
    if (Date.now() > deadline) throw new Error(`job ${id}: condition not met in time (last: ${JSON.stringify(last?.state)} ${JSON.stringify(last?.shards)} ${lastError})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export const finished = (job: JobView): boolean => TERMINAL_STATES.includes(job.state);

export async function resultsOf(base: string, id: string, options: { key?: string; query?: string } = {}): Promise<ResultLine[]> {
  const reply = await fetch(`${base}/v1/jobs/${id}/results${options.query ?? ''}`, { headers: authHeaders(options.key) });
  const text = await reply.text();
  if (reply.status !== 200) throw new Error(`GET results ${id}: ${reply.status} ${text}`);
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as ResultLine);
}

// --- exactly once ---

export interface Tally {
  /** Inputs with no result line and no error line. */
  lost: string[];
  /** Inputs with more than one line. */
  duplicated: string[];
  /** Lines whose id is not an input, or whose index does not match the input's position. */
  misplaced: string[];
  ok: number;
  failed: number;
}

/** Every input must have exactly one line (a result or a recorded error) at its own index. */
export function tally(items: ReadonlyArray<{ id: string }>, lines: readonly ResultLine[]): Tally {
  const seen = new Map<string, number>();
  const position = new Map(items.map((item, i) => [item.id, i]));
  const misplaced: string[] = [];
  let ok = 0;
  let failed = 0;
  for (const line of lines) {
    seen.set(line.id, (seen.get(line.id) ?? 0) + 1);
    if (position.get(line.id) !== line.index) misplaced.push(line.id);
    if ('error' in line) failed++;
    else ok++;
  }
  return {
    lost: items.filter((item) => !seen.has(item.id)).map((item) => item.id),
    duplicated: [...seen].filter(([, n]) => n > 1).map(([id]) => id),
    misplaced,
    ok,
    failed,
  };
}

export function summary(t: Tally): { lost: number; duplicated: number; misplaced: number; ok: number; failed: number } {
  return { lost: t.lost.length, duplicated: t.duplicated.length, misplaced: t.misplaced.length, ok: t.ok, failed: t.failed };
}

export async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Keys matching a pattern, by SCAN (never KEYS on a shared server). */
export async function scanKeys(redis: Redis, pattern: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    found.push(...keys);
  } while (cursor !== '0');
  return found.sort();
}

export { freePort };
