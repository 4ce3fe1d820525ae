import { randomUUID } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  paginateListObjectsV2,
  paginateListParts,
  PutObjectCommand,
  type GetObjectCommandOutput,
  type HeadObjectCommandOutput,
  type ListMultipartUploadsCommandOutput,
  type ListObjectsV2CommandInput,
  type ObjectIdentifier,
  type S3Client,
} from '@aws-sdk/client-s3';
import {
  assertByteRange,
  assertObjectKey,
  isObjectKey,
  missingObject,
  ObjectChangedError,
  type ByteRange,
  type ObjectInfo,
  type ObjectStore,
  type ObjectWriter,
  type ReadOptions,
  type WriteOptions,
} from './object-store.interface.js';
import { S3ObjectWriter } from './s3-object-writer.js';
import {
  etagOfVersion,
  infoOfHead,
  isS3ConditionalConflict,
  isS3InvalidRange,
  isS3NoSuchUpload,
  isS3NotFound,
  isS3NotImplemented,
  isS3PreconditionFailed,
  isS3SdkError,
  parseContentRange,
  S3StoreError,
  versionOfEtag,
} from './s3-responses.js';

export interface S3ObjectStoreOptions {
  client: S3Client;
  bucket: string;
  /** Folder of the bucket that holds the store: '' or a path ending with `/`. @defaultValue '' */
  prefix?: string;
  /**
   * Whether the service honours `If-None-Match: *` on PutObject and CompleteMultipartUpload (AWS S3
   * since 2024, MinIO, Ceph RGW). probeS3Bucket finds out at boot. Without it, ifAbsent is a check
   * before and after the write, which leaves a race (see the class comment).
   */
  conditionalWrites: boolean;
  /** Bytes per multipart part (S3's minimum is 5 MiB); an object up to this size goes up in one PutObject. @defaultValue 8 MiB */
  partSize?: number;
  /** Parts one writer uploads at once. A writer holds about (queueSize + 1) x partSize in memory. @defaultValue 2 */
  queueSize?: number;
}

const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
const DEFAULT_QUEUE_SIZE = 2;
/** What a writer buffers in front of its upload before write() waits. */
const WRITE_BUFFER_BYTES = 1024 * 1024;
/** DeleteObjects takes at most 1,000 keys. */
const DELETE_BATCH = 1000;
/** User metadata naming the writer of an ifAbsent object, on services without conditional writes. */
const WRITER_METADATA = 'shardwise-writer';

/**
 * An object store in an S3-compatible bucket: key `a/b` is the object `<prefix>a/b`.
 *
 * - Writes: a writer streams through lib-storage's Upload (multipart past `partSize`); the object
 *   exists only once the PutObject or CompleteMultipartUpload of commit succeeds, which S3 makes
 *   atomic. A crash leaves an incomplete multipart upload, invisible to readers, that sweepPartial
 *   aborts once its last part is older than the cutoff.
 * - ifAbsent: `If-None-Match: *` on the request that publishes, so S3 itself lets the first writer
 *   win (412 for the others). On a service without conditional writes: HEAD, write, HEAD again and
 *   compare a per-writer token. A writer that checked before another's write became visible still
 *   replaces it; then both answer 'written' and the later bytes stay. The window is one upload long.
 * - Versions are ETags. Reads send `If-Match` and also compare the ETag of what came back, so a
 *   service that ignores If-Match still never returns bytes of another object. Same bytes, same ETag
 *   (for a single-part upload): replacing an object with identical bytes keeps its version.
 * - Ranged reads are ranged GETs; a service that answers a Range with the whole object gets it cut.
 *
 * Transient errors (5xx, throttling, resets) are retried by the SDK's own strategy, configured on
 * the client (AWS_MAX_ATTEMPTS, AWS_RETRY_MODE).
 */
export class S3ObjectStore implements ObjectStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;
  private readonly conditionalWrites: boolean;
  private readonly partSize: number;
  private readonly queueSize: number;

  constructor(options: S3ObjectStoreOptions) {
    this.client = options.client;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? '';
    if (this.prefix !== '') assertObjectKey(this.prefix, { prefix: true });
    this.conditionalWrites = options.conditionalWrites;
    this.partSize = options.partSize ?? DEFAULT_PART_SIZE;
    this.queueSize = options.queueSize ?? DEFAULT_QUEUE_SIZE;
    this.location = `s3://${this.bucket}/${this.prefix}`;
  }

  async createWriter(key: string, options: WriteOptions = {}): Promise<ObjectWriter> {
    const bucketKey = this.bucketKeyOf(key);
    const ifAbsent = options.ifAbsent === true;
    const token = ifAbsent && !this.conditionalWrites ? randomUUID() : undefined;
    const target = {
      client: this.client,
      bucket: this.bucket,
      key,
      bucketKey,
      partSize: this.partSize,
      queueSize: this.queueSize,
      bufferBytes: WRITE_BUFFER_BYTES,
      ifNoneMatch: ifAbsent && this.conditionalWrites,
      metadata: token === undefined ? undefined : { [WRITER_METADATA]: token },
    };
    return S3ObjectWriter.open(target, async (upload, size) => {
      try {
        const etag = await this.publish(bucketKey, ifAbsent, token, upload);
        return etag === 'exists' ? 'exists' : await this.infoAfterWrite(key, bucketKey, etag, size);
      } catch (error) {
        throw this.explain('write', key, error);
      }
    });
  }

  async put(key: string, body: Uint8Array, options: WriteOptions = {}): Promise<'written' | 'exists'> {
    const bucketKey = this.bucketKeyOf(key);
    const ifAbsent = options.ifAbsent === true;
    if (body.byteLength > this.partSize) {
      const writer = await this.createWriter(key, options);
      try {
        await writer.write(body);
        return (await writer.commit()) === 'exists' ? 'exists' : 'written';
      } finally {
        await writer.abort();
      }
    }
    const token = ifAbsent && !this.conditionalWrites ? randomUUID() : undefined;
    const send = async (): Promise<string> => {
      const output = await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: bucketKey,
          Body: body,
          ...(ifAbsent && this.conditionalWrites ? { IfNoneMatch: '*' } : {}),
          ...(token === undefined ? {} : { Metadata: { [WRITER_METADATA]: token } }),
        }),
      );
      return versionOfEtag(output.ETag);
    };
    try {
      return (await this.publish(bucketKey, ifAbsent, token, send)) === 'exists' ? 'exists' : 'written';
    } catch (error) {
      throw this.explain('write', key, error);
    }
  }

  async read(key: string, range?: ByteRange, options: ReadOptions = {}): Promise<Buffer | null> {
    const stream = await this.open(key, range, options.version);
    if (stream === null) return null;
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks);
  }

  stream(key: string, range?: ByteRange, options: ReadOptions = {}): Promise<Readable | null> {
    return this.open(key, range, options.version);
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const head = await this.head(this.bucketKeyOf(key));
    return head === null ? null : infoOfHead(key, head);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for await (const page of this.listPages({ Prefix: this.bucketPrefixOf(prefix) })) {
      for (const entry of page.Contents ?? []) {
        const key = this.storeKeyOf(entry.Key);
        // Objects that users put there with names that are not store paths are not listed, as on a volume.
        if (key === null) continue;
        yield { key, size: entry.Size ?? 0, version: versionOfEtag(entry.ETag), modifiedAt: entry.LastModified?.getTime() ?? 0 };
      }
    }
  }

  async *listFolders(prefix: string): AsyncIterable<string> {
    for await (const page of this.listPages({ Prefix: this.bucketPrefixOf(prefix), Delimiter: '/' })) {
      for (const { Prefix: folder } of page.CommonPrefixes ?? []) {
        const storeFolder = folder?.slice(this.prefix.length);
        if (storeFolder !== undefined && isObjectKey(storeFolder, { prefix: true })) yield storeFolder;
      }
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.bucketKeyOf(key) }));
  }

  async deletePrefix(prefix: string): Promise<number> {
    let removed = 0;
    let batch: ObjectIdentifier[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const output = await this.client.send(new DeleteObjectsCommand({ Bucket: this.bucket, Delete: { Objects: batch, Quiet: true } }));
      const failed = output.Errors ?? [];
      if (failed.length > 0) {
        const first = failed[0]!;
        throw new Error(`could not delete ${failed.length} objects under ${JSON.stringify(prefix)} in ${this.location}: ${first.Key}: ${first.Code} ${first.Message}`);
      }
      removed += batch.length;
      batch = [];
    };
    // Continuation tokens are positions in key order, so deleting what was listed does not disturb the listing.
    for await (const page of this.listPages({ Prefix: this.bucketPrefixOf(prefix) })) {
      for (const entry of page.Contents ?? []) {
        if (entry.Key !== undefined) batch.push({ Key: entry.Key });
        if (batch.length === DELETE_BATCH) await flush();
      }
    }
    await flush();
    return removed;
  }

  async sweepPartial(olderThan: number): Promise<number> {
    let removed = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      let page: ListMultipartUploadsCommandOutput;
      try {
        page = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.bucket, Prefix: this.prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker }));
      } catch (error) {
        // A service without multipart listings: a bucket lifecycle rule (AbortIncompleteMultipartUpload) must do this.
        if (isS3NotImplemented(error)) return removed;
        throw error;
      }
      for (const { Key: key, UploadId: uploadId, Initiated: initiated } of page.Uploads ?? []) {
        if (key === undefined || uploadId === undefined || (initiated?.getTime() ?? 0) >= olderThan) continue;
        // Started long ago is not enough: a large upload still sending parts is alive.
        if ((await this.lastPartAt(key, uploadId)) >= olderThan) continue;
        try {
          await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.bucket, Key: key, UploadId: uploadId }));
          removed++;
        } catch (error) {
          if (!isS3NoSuchUpload(error) && !isS3NotFound(error)) throw error;
        }
      }
      keyMarker = page.IsTruncated ? page.NextKeyMarker : undefined;
      uploadIdMarker = page.IsTruncated ? page.NextUploadIdMarker : undefined;
    } while (keyMarker !== undefined);
    return removed;
  }

  /**
   * Runs the request that publishes an object under the ifAbsent rules: its ETag, or 'exists' when
   * another writer's object holds the key.
   */
  private async publish(bucketKey: string, ifAbsent: boolean, token: string | undefined, upload: () => Promise<string>): Promise<string | 'exists'> {
    if (!ifAbsent) return upload();
    if (this.conditionalWrites) {
      try {
        return await upload();
      } catch (error) {
        if (isS3PreconditionFailed(error)) return 'exists';
        // 409: another conditional write of the key was in flight. If it published, its object is the one.
        if (isS3ConditionalConflict(error) && (await this.head(bucketKey)) !== null) return 'exists';
        throw error;
      }
    }
    if ((await this.head(bucketKey)) !== null) return 'exists';
    const etag = await upload();
    const after = await this.head(bucketKey);
    // Another writer's object replaced ours in the window: it is the one that stays.
    if (after !== null && after.Metadata?.[WRITER_METADATA] !== token) return 'exists';
    return etag;
  }

  /** The info of an object just written; without a HEAD's LastModified when someone replaced it meanwhile. */
  private async infoAfterWrite(key: string, bucketKey: string, etag: string, size: number): Promise<ObjectInfo> {
    const version = versionOfEtag(etag);
    const head = await this.head(bucketKey);
    if (head !== null && versionOfEtag(head.ETag) === version) return infoOfHead(key, head);
    return { key, size, version, modifiedAt: Date.now() };
  }

  /** A stream of exactly `range` of the object (all of it without one), checked against `version`; null when missing. */
  private async open(key: string, range: ByteRange | undefined, version: string | undefined): Promise<Readable | null> {
    const bucketKey = this.bucketKeyOf(key);
    if (range) assertByteRange(key, range);
    if (range && range.start === range.end) {
      // HTTP cannot ask for no bytes: check the object exists, is this version and is long enough.
      const info = await this.stat(key);
      if (info === null) return missingObject(key, version);
      if (version !== undefined && info.version !== version) throw new ObjectChangedError(key, version, info.version);
      if (range.end > info.size) throw this.pastTheEnd(key, range, info.size);
      return Readable.from([]);
    }
    let response: GetObjectCommandOutput;
    try {
      response = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: bucketKey,
          Range: range ? `bytes=${range.start}-${range.end - 1}` : undefined,
          IfMatch: version === undefined ? undefined : etagOfVersion(version),
        }),
      );
    } catch (error) {
      if (isS3NotFound(error)) return missingObject(key, version);
      if (isS3PreconditionFailed(error) && version !== undefined) throw new ObjectChangedError(key, version, (await this.stat(key))?.version ?? null);
      if (isS3InvalidRange(error) && range) {
        const info = await this.stat(key);
        if (info === null) return missingObject(key, version);
        if (version !== undefined && info.version !== version) throw new ObjectChangedError(key, version, info.version);
        throw this.pastTheEnd(key, range, info.size);
      }
      throw this.explain('read', key, error);
    }
    const body = response.Body as Readable;
    const actual = versionOfEtag(response.ETag);
    if (version !== undefined && actual !== version) {
      body.destroy();
      throw new ObjectChangedError(key, version, actual);
    }
    if (!range) return body;
    const size = response.ContentLength ?? 0;
    const served = parseContentRange(response.ContentRange) ?? { first: 0, last: size - 1, size };
    if (served.size < range.end) {
      body.destroy();
      throw this.pastTheEnd(key, range, served.size);
    }
    if (served.first === range.start && served.last === range.end - 1) return body;
    if (served.first > range.start || served.last < range.end - 1) {
      body.destroy();
      throw new Error(
        `the S3 service sent bytes ${served.first}-${served.last} of object ${JSON.stringify(key)} in ${this.location} for a request of ${range.start}-${range.end - 1}`,
      );
    }
    // HTTP lets a server answer a Range with more (some send the whole object): cut the range out.
    return Readable.from(sliceOf(body, range.start - served.first, range.end - served.first));
  }

  private async head(bucketKey: string): Promise<HeadObjectCommandOutput | null> {
    try {
      return await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: bucketKey }));
    } catch (error) {
      if (isS3NotFound(error)) return null;
      throw this.explain('stat', bucketKey.slice(this.prefix.length), error);
    }
  }

  /** An SDK error with the action, key and bucket it failed on; anything else (already explained, a RangeError) as it is. */
  private explain(action: string, key: string, error: unknown): unknown {
    return isS3SdkError(error) && !(error instanceof S3StoreError) ? new S3StoreError(action, key, this.location, error) : error;
  }

  /** The latest activity of a multipart upload: its newest part, or its start. Infinity once it is gone. */
  private async lastPartAt(bucketKey: string, uploadId: string): Promise<number> {
    let latest = 0;
    try {
      for await (const page of paginateListParts({ client: this.client }, { Bucket: this.bucket, Key: bucketKey, UploadId: uploadId })) {
        for (const part of page.Parts ?? []) latest = Math.max(latest, part.LastModified?.getTime() ?? 0);
      }
    } catch (error) {
      if (isS3NoSuchUpload(error) || isS3NotFound(error)) return Infinity;
      throw error;
    }
    return latest;
  }

  private listPages(input: Pick<ListObjectsV2CommandInput, 'Prefix' | 'Delimiter'>) {
    return paginateListObjectsV2({ client: this.client }, { Bucket: this.bucket, ...input });
  }

  private pastTheEnd(key: string, range: ByteRange, size: number): RangeError {
    return new RangeError(`byte range [${range.start}, ${range.end}) of object ${JSON.stringify(key)} in ${this.location} ends past its ${size} bytes`);
  }

  private bucketKeyOf(key: string): string {
    assertObjectKey(key);
    return this.prefix + key;
  }

  private bucketPrefixOf(prefix: string): string {
    assertObjectKey(prefix, { prefix: true });
    return this.prefix + prefix;
  }

  /** The store key of a bucket key under the prefix, or null for a name that is not a store path. */
  private storeKeyOf(bucketKey: string | undefined): string | null {
    const key = bucketKey?.slice(this.prefix.length);
    return key !== undefined && isObjectKey(key) ? key : null;
  }
}

/** Bytes [from, to) of a stream; the source is closed once they are through. */
async function* sliceOf(source: Readable, from: number, to: number): AsyncGenerator<Buffer> {
  let offset = 0;
  try {
    for await (const chunk of source) {
      const bytes = chunk as Buffer;
      const start = Math.max(from - offset, 0);
      const end = Math.min(to - offset, bytes.length);
      offset += bytes.length;
      if (end > start) yield bytes.subarray(start, end);
      if (offset >= to) return;
    }
  } finally {
    source.destroy();
  }
}
