import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { apiError, unreachable, type ApiClient } from './api-client.js';
import { CliError, ExitCode, usageError } from './exit-codes.js';

export type ResultFormat = 'jsonl' | 'f32' | 'npy' | 'parquet';

export interface Downloaded {
  id: string;
  format: ResultFormat;
  path: string;
  bytes: number;
  items: number | null;
  dimensions: number | null;
}

export function resultFormat(format: string | undefined, output: string | undefined): ResultFormat {
  if (format === undefined) {
    if (output?.endsWith('.npy')) return 'npy';
    if (output?.endsWith('.f32')) return 'f32';
    if (output?.endsWith('.parquet')) return 'parquet';
    return 'jsonl';
  }
  if (format === 'jsonl' || format === 'ndjson') return 'jsonl';
  if (format === 'f32' || format === 'npy' || format === 'parquet') return format;
  throw usageError(`--format must be jsonl, f32, npy or parquet, not ${JSON.stringify(format)}`);
}

/**
 * Streams GET /v1/jobs/:id/results to a file (written to `<output>.part`, renamed when complete, so a
 * cut download never looks finished) or to stdout for `-`. Binary formats refuse a terminal.
 */
export async function downloadResults(client: ApiClient, id: string, options: { format: ResultFormat; output: string; partial?: boolean }): Promise<Downloaded> {
  const toStdout = options.output === '-';
  if (toStdout && options.format !== 'jsonl' && process.stdout.isTTY) {
    throw usageError(`--format ${options.format} is binary: write it to a file with --output, or redirect stdout`);
  }
  const query = { format: options.format === 'jsonl' ? undefined : options.format, partial: options.partial ? 'true' : undefined };
  const url = client.url(`v1/jobs/${encodeURIComponent(id)}/results`, query);
  const response = await client.fetch(url);
  if (!response.ok) throw apiError(response.status, await response.text().catch(() => ''));
  if (response.body === null) throw new CliError('the API sent no results body', ExitCode.Unavailable);
  const header = (name: string): number | null => {
    const value = response.headers.get(name);
    return value === null ? null : Number(value);
  };
  const expected = header('content-length');
  let bytes = 0;
  const counted = Readable.fromWeb(response.body as import('node:stream/web').ReadableStream<Uint8Array>);
  counted.on('data', (chunk: Buffer) => (bytes += chunk.length));
  const target = toStdout ? options.output : `${options.output}.part`;
  try {
    if (toStdout) await pipeline(counted, process.stdout, { end: false });
    else await pipeline(counted, createWriteStream(target));
  } catch (error) {
    if (!toStdout) await rm(target, { force: true });
    if ((error as NodeJS.ErrnoException).code === 'EPIPE') throw new CliError('stdout was closed', ExitCode.Usage);
    if ((error as NodeJS.ErrnoException).syscall === 'open') throw usageError(`cannot write ${options.output}: ${(error as Error).message}`);
    throw unreachable(url, error);
  }
  if (expected !== null && bytes !== expected) {
    if (!toStdout) await rm(target, { force: true });
    throw new CliError(`the download of ${id} broke off after ${bytes} of ${expected} bytes`, ExitCode.Unavailable, { code: 'TRUNCATED' });
  }
  if (!toStdout) await rename(target, options.output);
  return { id, format: options.format, path: options.output, bytes, items: header('x-item-count'), dimensions: header('x-embedding-dimensions') };
}
