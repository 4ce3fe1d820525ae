import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { ObjectInfo, ObjectWriter } from './object-store.interface.js';

export interface S3WriterTarget {
  client: S3Client;
  bucket: string;
  /** The key in the store (what callers see). */
  key: string;
  /** The key in the bucket (prefix + key). */
  bucketKey: string;
  /** Bytes per multipart part, at least 5 MiB; a smaller object goes up as one PutObject. */
  partSize: number;
  /** Parts in flight at once. */
  queueSize: number;
  /** Bytes the writer buffers in front of the upload before write() waits. */
  bufferBytes: number;
  /** Conditional write (If-None-Match: *), on services that honour it. */
  ifNoneMatch: boolean;
  /** User metadata stored with the object. */
  metadata?: Record<string, string>;
}

/** How the store publishes what the writer uploaded: the ifAbsent checks around the upload, and the info of the result. */
export type S3Publish = (upload: () => Promise<string>, size: number) => Promise<ObjectInfo | 'exists'>;

/** The writer was aborted: what the upload sees when its source is cut. */
class WriteAbortedError extends Error {
  override readonly name = 'WriteAbortedError';
}

/**
 * One object streamed into the bucket through lib-storage's Upload: chunks go through a bounded
 * PassThrough into parts of `partSize`, at most `queueSize` of them in flight, so memory stays
 * near (queueSize + 1) x partSize whatever the object's size. Nothing shows under the key before
 * commit: a small object is one PutObject sent by commit, a large one a multipart upload that
 * commit completes. Abort cuts the source, which makes Upload abort the multipart upload; one
 * left by a crash is found by the store's sweepPartial.
 */
export class S3ObjectWriter implements ObjectWriter {
  private written = 0;
  private state: 'open' | 'committing' | 'committed' | 'aborted' | 'failed' = 'open';
  private failure: unknown;
  private committing: Promise<ObjectInfo | 'exists'> | undefined;
  private draining: Promise<unknown> | undefined;

  private constructor(
    readonly key: string,
    private readonly body: PassThrough,
    /** Settles when the upload does; never rejects (a failure is kept in `failure`). */
    private readonly uploaded: Promise<string | undefined>,
    private readonly publish: S3Publish,
  ) {}

  /** Starts the upload; it sends nothing until a part is full or commit ends the body. */
  static open(target: S3WriterTarget, publish: S3Publish): S3ObjectWriter {
    const body = new PassThrough({ highWaterMark: target.bufferBytes });
    // Errors of the body reach the upload through its reader; this keeps a late one from crashing the process.
    body.on('error', () => undefined);
    const upload = new Upload({
      client: target.client,
      params: {
        Bucket: target.bucket,
        Key: target.bucketKey,
        Body: body,
        ...(target.ifNoneMatch ? { IfNoneMatch: '*' } : {}),
        ...(target.metadata ? { Metadata: target.metadata } : {}),
      },
      partSize: target.partSize,
      queueSize: target.queueSize,
    });
    let writer: S3ObjectWriter | undefined;
    const uploaded = upload.done().then(
      (output) => output.ETag,
      (error: unknown) => {
        if (writer) writer.failure ??= error;
        return undefined;
      },
    );
    writer = new S3ObjectWriter(target.key, body, uploaded, publish);
    return writer;
  }

  get bytes(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.state === 'failed' || (this.state === 'open' && this.failure !== undefined)) throw this.fail(this.failure);
    if (this.state !== 'open') throw this.closedError();
    this.written += chunk.byteLength;
    if (this.body.write(chunk)) return;
    // The upload stops reading when it fails: wait for room or for that, whichever comes first.
    this.draining ??= Promise.race([once(this.body, 'drain'), this.uploaded]).finally(() => (this.draining = undefined));
    await this.draining;
    if (this.failure !== undefined) throw this.fail(this.failure);
  }

  commit(): Promise<ObjectInfo | 'exists'> {
    if (this.state !== 'open') return Promise.reject(this.closedError());
    this.state = 'committing';
    this.committing = this.publish(() => this.finishUpload(), this.written).then(
      async (outcome) => {
        this.state = 'committed';
        // 'exists' may come before the upload finished (a check ahead of it): drop what it holds.
        if (outcome === 'exists') await this.discard();
        return outcome;
      },
      async (error: unknown) => {
        this.state = 'failed';
        this.failure ??= error;
        await this.discard();
        throw error;
      },
    );
    return this.committing;
  }

  async abort(): Promise<void> {
    if (this.committing) {
      await this.committing.catch(() => undefined);
      return;
    }
    if (this.state === 'open') this.state = 'aborted';
    await this.discard();
  }

  /** Ends the body and waits for the upload; its ETag, or 'exists' when a conditional write found the key taken. */
  private async finishUpload(): Promise<string> {
    if (this.failure !== undefined) throw this.failure;
    this.body.end();
    const etag = await this.uploaded;
    // A 412 of a conditional write lands here too: the store's publish turns it into 'exists'.
    if (this.failure !== undefined) throw this.failure;
    if (etag === undefined) throw new Error(`the upload of object ${JSON.stringify(this.key)} finished without an ETag`);
    return etag;
  }

  /** Cuts the source; Upload then aborts its multipart upload, and `uploaded` settles once it did. */
  private async discard(): Promise<void> {
    if (!this.body.destroyed) this.body.destroy(new WriteAbortedError(`the write of object ${JSON.stringify(this.key)} was aborted`));
    await this.uploaded;
  }

  private fail(error: unknown): unknown {
    this.state = 'failed';
    void this.discard();
    return error;
  }

  private closedError(): Error {
    return new Error(`the writer of object ${JSON.stringify(this.key)} is ${this.state}: it takes no more writes or commits`);
  }
}
