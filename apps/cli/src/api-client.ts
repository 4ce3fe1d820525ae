import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import https from 'node:https';
import type { JobView } from '#shared';
import { CliError, ExitCode } from './exit-codes.js';

// The API's own job view and states; job-record.js has no imports, so the CLI loads no server code.
export type { JobView } from '#shared';
export { TERMINAL_STATES as TERMINAL } from '#shared';

export interface JobList {
  data: JobView[];
  total: number;
  limit: number;
  offset: number;
  has_more: boolean;
}

const USER_AGENT = 'shardwise-cli/1';

/** A thin HTTP client of the shardwise API; every failure becomes a CliError with its exit code. */
export class ApiClient {
  private readonly base: URL;

  constructor(
    apiUrl: string,
    private readonly apiKey: string | undefined,
  ) {
    let base: URL;
    try {
      base = new URL(apiUrl.endsWith('/') ? apiUrl : `${apiUrl}/`);
    } catch {
      throw new CliError(`--api-url ${JSON.stringify(apiUrl)} is not a URL`, ExitCode.Usage, { code: 'USAGE' });
    }
    if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new CliError(`--api-url must be http:// or https://`, ExitCode.Usage, { code: 'USAGE' });
    this.base = base;
  }

  url(path: string, query: Record<string, string | undefined> = {}): URL {
    const url = new URL(path.replace(/^\//, ''), this.base);
    for (const [key, value] of Object.entries(query)) if (value !== undefined) url.searchParams.set(key, value);
    return url;
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    const headers: Record<string, string> = { 'User-Agent': USER_AGENT, ...extra };
    if (this.apiKey) headers.Authorization = `Bearer ${this.apiKey}`;
    return headers;
  }

  /** fetch with the API's headers; network failures become exit code 5. Non-2xx answers are returned. */
  async fetch(url: URL, init: RequestInit = {}): Promise<Response> {
    try {
      return await fetch(url, { ...init, headers: this.headers((init.headers as Record<string, string>) ?? {}) });
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      throw unreachable(url, error);
    }
  }

  /** GET/POST returning JSON; a non-2xx answer throws (4xx: exit 2, 5xx: exit 5). */
  async json<T>(method: 'GET' | 'POST', path: string, query: Record<string, string | undefined> = {}): Promise<T> {
    const response = await this.fetch(this.url(path, query), { method, headers: { Accept: 'application/json' } });
    const text = await response.text().catch((error: unknown) => {
      throw unreachable(this.base, error);
    });
    if (!response.ok) throw apiError(response.status, text);
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new CliError(`the API answered ${response.status} with a body that is not JSON`, ExitCode.Unavailable, { status: response.status });
    }
  }

  /** POST /v1/jobs with a JSON body (a job over a corpus already in the store); a non-2xx answer throws. */
  async submitJson(job: Record<string, unknown>): Promise<JobView> {
    const response = await this.fetch(this.url('v1/jobs'), {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: JSON.stringify(job),
    });
    const text = await response.text().catch((error: unknown) => {
      throw unreachable(this.base, error);
    });
    if (response.status !== 202) throw apiError(response.status, text);
    return JSON.parse(text) as JobView;
  }

  getJob(id: string): Promise<JobView> {
    return this.json<JobView>('GET', `v1/jobs/${encodeURIComponent(id)}`);
  }

  /** Streams an NDJSON body to POST /v1/jobs (see `stream`). */
  async upload(query: Record<string, string | undefined>, body: AsyncIterable<Buffer>): Promise<{ status: number; text: string }> {
    return this.stream('v1/jobs', query, 'application/x-ndjson', body);
  }

  /**
   * Streams an NDJSON corpus to POST /v1/files as a multipart upload (purpose `user_data`), never
   * holding it in memory, so that jobs can run on it by reference (`input_file_id`).
   */
  async uploadFile(filename: string, body: AsyncIterable<Buffer>): Promise<{ status: number; text: string }> {
    const boundary = `shardwise-${randomBytes(12).toString('hex')}`;
    const safeName = filename.replace(/["\r\n\\]/g, '_');
    const head = Buffer.from(
      `--${boundary}\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nuser_data\r\n` +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="${safeName}"\r\nContent-Type: application/x-ndjson\r\n\r\n`,
    );
    const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
    const parts = (async function* () {
      yield head;
      yield* body;
      yield tail;
    })();
    return this.stream('v1/files', {}, `multipart/form-data; boundary=${boundary}`, parts);
  }

  /**
   * Streams a body to a POST route. Uses node:http rather than fetch so that an answer arriving
   * before the body is sent (the API refuses a corpus at its first bad line) stops the upload at
   * once. A failure of the source (an unreadable or malformed file) aborts the request, so the API
   * never sees a complete body and keeps nothing.
   */
  private async stream(path: string, query: Record<string, string | undefined>, contentType: string, body: AsyncIterable<Buffer>): Promise<{ status: number; text: string }> {
    const url = this.url(path, query);
    const transport = url.protocol === 'https:' ? https : http;
    const request = transport.request(url, {
      method: 'POST',
      headers: this.headers({ 'Content-Type': contentType, Accept: 'application/json' }),
    });
    let answered = false;
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      request.once('response', (res) => {
        answered = true;
        const parts: Buffer[] = [];
        res.on('data', (chunk: Buffer) => parts.push(chunk));
        res.once('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }));
        res.once('error', reject);
      });
      request.once('error', (error) => reject(answered ? error : unreachable(url, error)));
    });
    response.catch(() => undefined); // observed below; never unhandled while the body is written
    try {
      for await (const chunk of body) {
        if (answered || request.destroyed) break;
        if (!request.write(chunk)) {
          await Promise.race([
            once(request, 'drain'),
            response.then(
              () => undefined,
              () => undefined,
            ),
          ]);
        }
      }
    } catch (error) {
      // The local file failed: cut the request so the API refuses the partial body.
      request.destroy();
      throw error;
    }
    if (!request.destroyed) request.end();
    return response;
  }
}

export function unreachable(url: URL, error: unknown): CliError {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const detail = cause?.code ?? cause?.message ?? (error as Error).message ?? String(error);
  return new CliError(`cannot reach the shardwise API at ${url.origin} (${detail}); check --api-url or SHARDWISE_API_URL`, ExitCode.Unavailable, {
    code: 'UNAVAILABLE',
  });
}

/** The API's `{"error": {"code","message","line"?,"field"?}}` as a CliError: 4xx exit 2, anything else exit 5. */
export function apiError(status: number, text: string): CliError {
  let body: { error?: { code?: string; message?: string; line?: number; field?: string } } = {};
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    // not the API's error shape (a proxy's page, say)
  }
  const code = body.error?.code ?? `HTTP_${status}`;
  const message = body.error?.message ?? (text.trim().slice(0, 200) || `HTTP ${status}`);
  const exit = status >= 400 && status < 500 ? ExitCode.Rejected : ExitCode.Unavailable;
  return new CliError(`${code}: ${message}`, exit, { code, status, line: body.error?.line, field: body.error?.field });
}
