import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describeS3Error, isS3PreconditionFailed, s3StatusOf } from './s3-responses.js';

export interface S3ClientSettings {
  /** @defaultValue AWS S3 */
  endpoint?: string;
  /** @defaultValue the SDK's default chain (AWS_REGION, the profile) */
  region?: string;
  /** @defaultValue false */
  forcePathStyle?: boolean;
}

/** A connection that does not open in this long fails (and is retried by the SDK) instead of hanging a boot or a shard. */
const CONNECTION_TIMEOUT_MS = 10_000;

/**
 * The S3 client of the store. Credentials: the SDK's default provider chain only (environment
 * keys, profile, IRSA / web identity, container and instance roles). Retries: the SDK's standard
 * strategy (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE). Checksums only where an operation requires them:
 * the flexible-checksum default (CRC32 trailers on every upload) is not understood by many
 * S3-compatible services.
 */
export function createS3Client(settings: S3ClientSettings): S3Client {
  return new S3Client({
    endpoint: settings.endpoint,
    region: settings.region,
    forcePathStyle: settings.forcePathStyle ?? false,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: CONNECTION_TIMEOUT_MS },
  });
}

export interface S3BucketAbilities {
  /** The service refuses `If-None-Match: *` writes of an existing key with 412 (a conditional write). */
  conditionalWrites: boolean;
}

/**
 * Boot check of the bucket: writes, reads, lists and deletes a probe object under the prefix, and
 * finds out whether the service honours conditional writes by writing the probe again with
 * `If-None-Match: *`. The probe's name starts with a dot, which no store key can, so it never meets
 * a real object. Throws an Error that says which step failed and why.
 */
export async function probeS3Bucket(client: S3Client, bucket: string, prefix: string): Promise<S3BucketAbilities> {
  const Key = `${prefix}.shardwise-probe-${randomUUID()}`;
  const step = async <T>(what: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (error) {
      throw new Error(`cannot ${what} s3://${bucket}/${prefix}: ${describeS3Error(error)}`, { cause: error });
    }
  };
  await step('write to', () => client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'probe' })));
  try {
    await step('read from', async () => (await client.send(new GetObjectCommand({ Bucket: bucket, Key }))).Body?.transformToString());
    await step('list', () => client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, MaxKeys: 1 })));
    try {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key, Body: 'probe', IfNoneMatch: '*' }));
      // Accepted over an existing key: the header was ignored.
      return { conditionalWrites: false };
    } catch (error) {
      if (isS3PreconditionFailed(error)) return { conditionalWrites: true };
      // Some services refuse the header outright (400 or 501): no conditional writes either.
      if ([400, 501].includes(s3StatusOf(error) ?? 0)) return { conditionalWrites: false };
      throw new Error(`cannot write to s3://${bucket}/${prefix}: ${describeS3Error(error)}`, { cause: error });
    }
  } finally {
    await step('delete from', () => client.send(new DeleteObjectCommand({ Bucket: bucket, Key })));
  }
}
