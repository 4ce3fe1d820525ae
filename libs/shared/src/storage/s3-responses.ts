import type { HeadObjectCommandOutput } from '@aws-sdk/client-s3';
import type { ObjectInfo } from './object-store.interface.js';

/** What S3 errors are told apart by: the HTTP status (HEAD errors carry no code) and the error code. */
interface S3ErrorShape {
  name?: string;
  Code?: string;
  $metadata?: { httpStatusCode?: number };
}

export function s3StatusOf(error: unknown): number | undefined {
  return (error as S3ErrorShape | undefined)?.$metadata?.httpStatusCode;
}

export function s3CodeOf(error: unknown): string | undefined {
  const shape = error as S3ErrorShape | undefined;
  return shape?.Code ?? shape?.name;
}

export const isS3NotFound = (error: unknown): boolean => s3StatusOf(error) === 404 || s3CodeOf(error) === 'NoSuchKey' || s3CodeOf(error) === 'NotFound';
/** 412: an If-Match or If-None-Match precondition did not hold. */
export const isS3PreconditionFailed = (error: unknown): boolean => s3StatusOf(error) === 412 || s3CodeOf(error) === 'PreconditionFailed';
/** 409 ConditionalRequestConflict: another conditional write of the key was in flight; AWS asks to retry. */
export const isS3ConditionalConflict = (error: unknown): boolean => s3StatusOf(error) === 409 || s3CodeOf(error) === 'ConditionalRequestConflict';
export const isS3InvalidRange = (error: unknown): boolean => s3StatusOf(error) === 416 || s3CodeOf(error) === 'InvalidRange';
export const isS3NoSuchUpload = (error: unknown): boolean => s3CodeOf(error) === 'NoSuchUpload';
/** The service does not implement the operation (some S3-compatible servers lack multipart listings). */
export const isS3NotImplemented = (error: unknown): boolean => s3StatusOf(error) === 501 || s3CodeOf(error) === 'NotImplemented';

/** ETags come quoted (`"9b2c..."`); versions are the bare value, and If-Match takes it quoted again. */
export function versionOfEtag(etag: string | undefined): string {
  if (etag === undefined || etag === '') throw new Error('the S3 service answered without an ETag; it cannot serve as an object store');
  return etag.replace(/^"(.*)"$/, '$1');
}

export const etagOfVersion = (version: string): string => `"${version}"`;

export function infoOfHead(key: string, head: Pick<HeadObjectCommandOutput, 'ContentLength' | 'ETag' | 'LastModified'>): ObjectInfo {
  return { key, size: head.ContentLength ?? 0, version: versionOfEtag(head.ETag), modifiedAt: head.LastModified?.getTime() ?? 0 };
}

/** `bytes 250-255/256` as numbers; undefined when the header is absent or not of that form. */
export function parseContentRange(header: string | undefined): { first: number; last: number; size: number } | undefined {
  const match = header === undefined ? null : /^bytes (\d+)-(\d+)\/(\d+)$/.exec(header.trim());
  return match ? { first: Number(match[1]), last: Number(match[2]), size: Number(match[3]) } : undefined;
}

/** An SDK error in one line: code, HTTP status and message (a connection error has only the last). */
export function describeS3Error(error: unknown): string {
  const status = s3StatusOf(error);
  const code = s3CodeOf(error);
  const message = (error as Error | undefined)?.message ?? String(error);
  const label = [code, status === undefined ? undefined : `HTTP ${status}`].filter(Boolean).join(', ');
  return label === '' ? message : `${label}: ${message}`;
}

/**
 * A request to the bucket that failed after the SDK's retries, saying what was asked of which key, so
 * that a shard's failure reason reads `AccessDenied, HTTP 403: Access Denied (write "jobs/…" in s3://…)`.
 */
export class S3StoreError extends Error {
  override readonly name = 'S3StoreError';
  /** The S3 error code (`AccessDenied`, `SlowDown`, ...), when the service answered. */
  readonly code: string | undefined;
  readonly status: number | undefined;
  constructor(action: string, key: string, location: string, cause: unknown) {
    super(`${describeS3Error(cause)} (${action} ${JSON.stringify(key)} in ${location})`, { cause });
    this.code = s3CodeOf(cause);
    this.status = s3StatusOf(cause);
  }
}

/** Errors of the SDK (a service answer or a failed connection after retries) carry `$metadata`; others pass through. */
export function isS3SdkError(error: unknown): boolean {
  return typeof error === 'object' && error !== null && '$metadata' in error;
}
