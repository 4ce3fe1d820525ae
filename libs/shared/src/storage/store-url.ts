import { isAbsolute } from 'node:path';
import { fileURLToPath } from 'node:url';
import { assertObjectKey } from './object-store.interface.js';

/** Where the object store lives, as STORE_URL names it. */
export type StoreLocation =
  | { scheme: 'file'; root: string }
  /** `prefix` is '' or a folder ending with `/`; every key is stored as `<prefix><key>` in the bucket. */
  | { scheme: 's3'; bucket: string; prefix: string };

/** S3's rules for bucket names: 3-63 lowercase letters, digits, dots and hyphens, a letter or digit at each end. */
const BUCKET = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

/**
 * Parses STORE_URL: `file:///absolute/folder` or `s3://bucket` or `s3://bucket/prefix`. Throws an
 * Error whose message says what is wrong and what is accepted (the env schema turns it into a boot error).
 */
export function parseStoreUrl(text: string): StoreLocation {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('not a URL: use file:///absolute/folder or s3://bucket/prefix');
  }
  if (url.protocol === 'file:') {
    if (url.host !== '' || url.search !== '' || url.hash !== '') throw new Error('a file URL names a local folder only: file:///absolute/folder');
    const root = fileURLToPath(url);
    if (!isAbsolute(root)) throw new Error('a file URL needs an absolute path: file:///absolute/folder');
    return { scheme: 'file', root };
  }
  if (url.protocol === 's3:') {
    if (url.username !== '' || url.password !== '' || url.port !== '' || url.search !== '' || url.hash !== '') {
      throw new Error(
        'an s3 URL holds the bucket and an optional prefix only (s3://bucket/prefix); credentials come from the AWS SDK (environment, profile, IRSA, workload identity)',
      );
    }
    if (!BUCKET.test(url.hostname)) throw new Error(`"${url.hostname}" is not a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens`);
    const path = decodeURIComponent(url.pathname).replace(/^\/+/, '');
    const prefix = path === '' ? '' : path.endsWith('/') ? path : `${path}/`;
    if (prefix !== '') {
      try {
        assertObjectKey(prefix, { prefix: true });
      } catch (error) {
        throw new Error(`the prefix "${path}" is not a store path: ${(error as Error).message}`);
      }
    }
    return { scheme: 's3', bucket: url.hostname, prefix };
  }
  throw new Error(`unsupported scheme "${url.protocol}": use file:///absolute/folder or s3://bucket/prefix`);
}

/** The problem with a STORE_URL value, or undefined when it parses. */
export function storeUrlProblem(text: string): string | undefined {
  try {
    parseStoreUrl(text);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
