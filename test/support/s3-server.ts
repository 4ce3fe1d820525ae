import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';

const CHILD = resolve(import.meta.dirname, 's3rver-child.mjs');

/** s3rver's built-in account (SigV4 is checked by access key id only). */
export const S3RVER_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** One request as s3rver-child.mjs logged it. */
export interface S3Request {
  method: string;
  /** `/bucket/key`, decoded. */
  path: string;
  query: string;
  range?: string;
  ifMatch?: string;
  ifNoneMatch?: string;
  status: number;
  code?: string;
  requestBytes: number;
  responseBytes: number;
}

export interface S3ServerOptions {
  /** @defaultValue shardwise-test */
  bucket?: string;
  /**
   * Honour If-None-Match: * on writes and If-Match on reads, as AWS S3, MinIO and Ceph RGW do; false
   * leaves plain s3rver, which ignores both (the store's fallback path). @defaultValue true
   */
  conditional?: boolean;
}

/** Requests that fail on purpose: what the server answers to a method and path (a regular expression over `path?query`). */
export interface S3Fault {
  method: 'GET' | 'PUT' | 'POST' | 'DELETE' | 'HEAD';
  path: string;
  status: number;
  /** The S3 error code: `SlowDown` (503) and `InternalError` (500) are retried by the SDK, `AccessDenied` (403) is not. */
  code: string;
  /** Fail each matching path this many times, then serve it. @defaultValue always */
  times?: number;
}

export interface S3ServerHandle {
  endpoint: string;
  bucket: string;
  process: ChildProcess;
  /** The folder s3rver keeps buckets in. */
  directory: string;
  /** The variables that point an API or worker at `s3://<bucket>/<prefix>` on this server. */
  env(prefix?: string): Record<string, string>;
  /** An SDK client of this server (the tests' own view of the bucket). */
  client(): S3Client;
  /** Every bucket key under `prefix`. */
  keys(prefix?: string): Promise<string[]>;
  /** What the server wrote to stderr (its 5xx errors, with stacks). */
  output(): string;
  /** The requests served so far, in order. */
  requests(): Promise<S3Request[]>;
  /** Replaces the faults the server injects; [] ends them. */
  setFaults(faults: S3Fault[]): Promise<void>;
  stop(): Promise<void>;
}

/**
 * A private S3-protocol server (s3rver, see s3rver-child.mjs) on a free loopback port, in its own
 * process with a temp folder, with the bucket created. Tests talk to it over HTTP with the official SDK.
 */
export async function startS3Server(options: S3ServerOptions = {}): Promise<S3ServerHandle> {
  const bucket = options.bucket ?? 'shardwise-test';
  const root = await mkdtemp(join(tmpdir(), 'sw-s3rver-'));
  const directory = join(root, 'data');
  const requestLog = join(root, 'requests.jsonl');
  // s3rver encrypts continuation tokens (paged listings) with DES, which OpenSSL 3 keeps in its legacy provider.
  const child = spawn(process.execPath, ['--openssl-legacy-provider', CHILD, JSON.stringify({ directory, bucket, requestLog, conditional: options.conditional ?? true })], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stderr?.on('data', (chunk: Buffer) => (output = (output + chunk.toString()).slice(-20_000)));
  const port = await new Promise<number>((resolvePort, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start in 20 s:\n${output}`)), 20_000);
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code}:\n${output}`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolvePort((JSON.parse(line) as { port: number }).port);
    });
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const clients: S3Client[] = [];

  const handle: S3ServerHandle = {
    endpoint,
    bucket,
    process: child,
    directory,
    env: (prefix = '') => ({
      STORE_URL: `s3://${bucket}/${prefix}`,
      S3_ENDPOINT: endpoint,
      S3_REGION: 'us-east-1',
      S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
    }),
    client() {
      const client = new S3Client({
        endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: S3RVER_CREDENTIALS,
        requestChecksumCalculation: 'WHEN_REQUIRED',
        responseChecksumValidation: 'WHEN_REQUIRED',
      });
      clients.push(client);
      return client;
    },
    async keys(prefix = '') {
      const client = clients[0] ?? handle.client();
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
        for (const entry of page.Contents ?? []) keys.push(entry.Key!);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token !== undefined);
      return keys;
    },
    output: () => output,
    async requests() {
      const text = await readFile(requestLog, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => JSON.parse(line) as S3Request);
    },
    async setFaults(faults) {
      const response = await fetch(`${endpoint}/__faults`, { method: 'PUT', body: JSON.stringify(faults) });
      if (response.status !== 204) throw new Error(`s3rver did not take the faults: ${response.status} ${await response.text()}`);
    },
    async stop() {
      for (const client of clients) client.destroy();
      if (child.exitCode === null && child.signalCode === null) {
        const exited = once(child, 'exit');
        child.kill('SIGKILL');
        await exited;
      }
      await rm(root, { recursive: true, force: true });
    },
  };
  return handle;
}
