/**
 * Reads single files of a model repository from the Hugging Face Hub (or a mirror), addressed the way
 * transformers.js 4.3.1 addresses them (`buildResourcePaths`, `getFetchHeaders`), so the API can read a
 * Hub model's configs without importing transformers.js, and a thread can read the ones transformers.js
 * itself never fetches. `@huggingface/hub`'s downloadFile would do the fetch, but it is not a
 * dependency here, it sends the token to any hub URL (transformers.js only to huggingface.co), and a
 * GET with a timeout is all that is needed.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { HubFileError, InvalidModelError } from './errors.js';

/** Where models come from when HF_ENDPOINT is unset (huggingface_hub's name and default). */
export const DEFAULT_HUB_ENDPOINT = 'https://huggingface.co';
/** Hosts transformers.js sends HF_TOKEN to; a mirror never gets it. */
const TOKEN_HOSTS = new Set(['huggingface.co', 'hf.co']);
const DEFAULT_TIMEOUT_MS = 10_000;

export interface HubFileOptions {
  /** @defaultValue DEFAULT_HUB_ENDPOINT */
  endpoint?: string;
  /** @defaultValue `'main'` */
  revision?: string;
  /** @defaultValue 10000 */
  timeoutMs?: number;
  /** @defaultValue `'shardwise'` */
  userAgent?: string;
}

type Json = Record<string, unknown>;

/** `<endpoint>/<model>/resolve/<revision>/<file>`, as transformers.js builds it from env.remoteHost. */
export function hubFileUrl(modelId: string, file: string, opts: HubFileOptions = {}): string {
  const endpoint = (opts.endpoint ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, '');
  return `${endpoint}/${modelId}/resolve/${encodeURIComponent(opts.revision ?? 'main')}/${file}`;
}

/** The file's bytes; null when the endpoint answers 404 (the repository has no such file). */
export async function fetchHubFile(modelId: string, file: string, opts: HubFileOptions = {}): Promise<Uint8Array | null> {
  const url = hubFileUrl(modelId, file, opts);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  let response: Response;
  try {
    response = await fetch(url, { headers: headersFor(url, opts.userAgent ?? 'shardwise'), signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    throw new HubFileError(url, timedOut ? `no answer within ${timeoutMs} ms` : causeOf(error));
  }
  if (response.status === 404) {
    await response.body?.cancel();
    return null;
  }
  if (!response.ok) {
    await response.body?.cancel();
    // The Hub answers 401 for a repository that does not exist as well as for a gated one.
    throw new HubFileError(url, `HTTP ${response.status}${response.status === 401 ? ' (no such repository, or a gated one: set HF_TOKEN)' : ''}`, response.status);
  }
  try {
    return new Uint8Array(await response.arrayBuffer());
  } catch (error) {
    throw new HubFileError(url, `the download broke off: ${causeOf(error)}`);
  }
}

/** A JSON object file of the repository; null when it has no such file. */
export async function fetchHubJson(modelId: string, file: string, opts: HubFileOptions = {}): Promise<Json | null> {
  const bytes = await fetchHubFile(modelId, file, opts);
  return bytes === null ? null : parseJsonObject(bytes, modelId, hubFileUrl(modelId, file, opts));
}

/**
 * Like fetchHubJson, but through transformers.js's file cache (`<cacheDir>/<model>/<file>`, its key for
 * revision main): a cached copy is read without asking the endpoint, so a worker with the model cached
 * works offline, and a downloaded one is stored there. A file the repository lacks is cached as `{}`,
 * so that "absent" is remembered too; that is only safe for files where `{}` means the same as none.
 */
export async function readCachedHubJson(modelId: string, file: string, cacheDir: string | undefined, opts: HubFileOptions = {}): Promise<Json> {
  const path = cacheDir === undefined ? undefined : join(cacheDir, modelId, file);
  if (path !== undefined) {
    const cached = await readFile(path).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
    if (cached !== undefined) return parseJsonObject(cached, modelId, path);
  }
  const bytes = await fetchHubFile(modelId, file, opts);
  const value = bytes === null ? {} : parseJsonObject(bytes, modelId, hubFileUrl(modelId, file, opts));
  if (path !== undefined) {
    // Written aside and renamed, as transformers.js's FileCache does, so a reader never sees half a file.
    await mkdir(dirname(path), { recursive: true });
    const temp = `${path}.tmp.${process.pid}.${Math.random().toString(36).slice(2)}`;
    await writeFile(temp, bytes ?? '{}');
    await rename(temp, path);
  }
  return value;
}

function headersFor(url: string, userAgent: string): Headers {
  const headers = new Headers({ 'User-Agent': userAgent });
  const token = process.env.HF_TOKEN ?? process.env.HF_ACCESS_TOKEN;
  if (token && TOKEN_HOSTS.has(new URL(url).hostname)) headers.set('Authorization', `Bearer ${token}`);
  return headers;
}

function parseJsonObject(bytes: Uint8Array, modelId: string, where: string): Json {
  try {
    const value: unknown = JSON.parse(new TextDecoder().decode(bytes));
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Json;
  } catch {
    // fall through to the error below
  }
  throw new InvalidModelError(modelId, `${where} is not a JSON object`);
}

function causeOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  // fetch reports "fetch failed" and puts the reason (ECONNREFUSED, ENOTFOUND, ...) in its cause.
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${error.message}${cause}`;
}
