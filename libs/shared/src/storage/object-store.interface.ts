import type { Readable } from 'node:stream';

/**
 * The bytes behind every job: inputs, shard results and OpenAI files live in one object store (a
 * directory on a shared volume, fs-object-store.ts, or an S3-compatible bucket, s3-object-store.ts;
 * STORE_URL picks one). Redis only holds references into it. The interface is the intersection of what a POSIX directory and an
 * object store both do well: streamed writes that appear whole or not at all, ranged reads,
 * listing and deleting by prefix.
 *
 * Keys are `/`-separated relative paths (see `assertObjectKey`): `jobs/<jobId>/input.ndjson`,
 * `jobs/<jobId>/results/000012.swr`, `files/<fileId>`, or any path a user put there themselves.
 */

/** Bytes `[start, end)` of an object: whole numbers, `0 <= start <= end <= size`, else a RangeError. */
export interface ByteRange {
  start: number;
  end: number;
}

export interface ObjectInfo {
  key: string;
  /** Bytes. */
  size: number;
  /**
   * Changes whenever the object is replaced (filesystem: inode, size and mtime; S3: the ETag).
   * A reader that passes it back gets ObjectChangedError instead of bytes of another object.
   */
  version: string;
  /** Last modification, ms since the epoch. */
  modifiedAt: number;
}

export interface ReadOptions {
  /** Fail with ObjectChangedError when the object is no longer this version. */
  version?: string;
}

export interface WriteOptions {
  /** Keep an object that already exists: commit() answers 'exists' and the new bytes are dropped. */
  ifAbsent?: boolean;
}

/**
 * One object being written. Nothing is visible under its key until commit() resolves; abort()
 * (or a crash) leaves only a partial write that `sweepPartial` removes.
 */
export interface ObjectWriter {
  readonly key: string;
  /** Bytes written so far. */
  readonly bytes: number;
  /**
   * Appends a chunk; resolves when the writer can take more (backpressure). The writer may still hold
   * `chunk` after that (buffered, not yet written): do not modify it until commit() or abort().
   */
  write(chunk: Uint8Array): Promise<void>;
  /** Publishes the object. With `ifAbsent`, 'exists' means another writer published it first. */
  commit(): Promise<ObjectInfo | 'exists'>;
  /** Drops everything written; safe to call after commit (then it does nothing) and more than once. */
  abort(): Promise<void>;
}

export interface ObjectStore {
  /** Human-readable location for logs and errors (`file:///data/results`, `s3://bucket/prefix`). */
  readonly location: string;
  /** Streamed write; see ObjectWriter. */
  createWriter(key: string, options?: WriteOptions): Promise<ObjectWriter>;
  /** Writes a whole object from memory, atomically. 'exists' only with `ifAbsent`. */
  put(key: string, body: Uint8Array, options?: WriteOptions): Promise<'written' | 'exists'>;
  /** The object's bytes (or those of `range`), or null when there is no such object. */
  read(key: string, range?: ByteRange, options?: ReadOptions): Promise<Buffer | null>;
  /** The same as a stream, for objects too large to hold in memory; null when there is no such object. */
  stream(key: string, range?: ByteRange, options?: ReadOptions): Promise<Readable | null>;
  stat(key: string): Promise<ObjectInfo | null>;
  /** Every object whose key starts with `prefix` (which ends with `/`), in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * The folders directly under `prefix` (which ends with `/`), each as a prefix ending with `/`, in key
   * order: `listFolders('jobs/')` gives `jobs/<id>/` once per job (S3: a delimiter listing).
   */
  listFolders(prefix: string): AsyncIterable<string>;
  /** Removes one object; no error when it does not exist. */
  delete(key: string): Promise<void>;
  /** Removes every object under `prefix` (which ends with `/`); returns how many. */
  deletePrefix(prefix: string): Promise<number>;
  /**
   * Removes partial writes (aborted or left by a crash) last written to before `olderThan` (ms), so that
   * a long write still going is kept; returns how many. A bucket holds only the multipart uploads of
   * writes larger than a part: smaller ones stay in the writer's memory until commit.
   */
  sweepPartial(olderThan: number): Promise<number>;
}

export const OBJECT_STORE = Symbol('OBJECT_STORE');

/** The object changed between the moment a job referenced it and a read of it. */
export class ObjectChangedError extends Error {
  override readonly name = 'ObjectChangedError';
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly actual: string | null,
  ) {
    super(
      actual === null
        ? `object ${JSON.stringify(key)} was deleted after the job that reads it was submitted`
        : `object ${JSON.stringify(key)} was replaced after the job that reads it was submitted (version ${expected}, now ${actual})`,
    );
  }
}

/** A key (or a prefix ending in `/`) that does not name a place inside the store. */
export class InvalidObjectKeyError extends Error {
  override readonly name = 'InvalidObjectKeyError';
}

const SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._=+@-]{0,254}$/;
const MAX_KEY_LENGTH = 1024;

/**
 * Keys are relative paths of segments made of letters, digits and `._=+@-`, none starting with a dot
 * (so `..` and hidden temp files cannot be named), at most 1,024 characters. Every backend checks
 * keys with this, so a key that works on one works on all, with one exception: a directory cannot
 * hold `a` and `a/b` at once, so never use an object's key as another's folder.
 */
export function assertObjectKey(key: string, { prefix = false } = {}): void {
  const body = prefix ? key.replace(/\/$/, '') : key;
  if (prefix && !key.endsWith('/')) throw new InvalidObjectKeyError(`object prefix ${JSON.stringify(key)} must end with "/"`);
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) throw new InvalidObjectKeyError(`object key must have 1 to ${MAX_KEY_LENGTH} characters`);
  const segments = body.split('/');
  for (const segment of segments) {
    if (!SEGMENT.test(segment)) {
      throw new InvalidObjectKeyError(`object key ${JSON.stringify(key)} is not a store path: use "/"-separated names of letters, digits and ._=+@- that do not start with a dot`);
    }
  }
}

/** Throws a RangeError unless `range` is whole numbers with `0 <= start <= end` (its end is checked against the object later). */
export function assertByteRange(key: string, { start, end }: ByteRange): void {
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end) || start < 0 || end < start) {
    throw new RangeError(`invalid byte range [${start}, ${end}) for object ${JSON.stringify(key)}: use whole numbers with 0 <= start <= end`);
  }
}

/** Whether `key` passes assertObjectKey: listings skip names that are not store paths. */
export function isObjectKey(key: string, options: { prefix?: boolean } = {}): boolean {
  try {
    assertObjectKey(key, options);
    return true;
  } catch {
    return false;
  }
}

/** What a read of an object that is not there answers: null, unless the reader holds a version of it. */
export function missingObject(key: string, version: string | undefined): null {
  if (version !== undefined) throw new ObjectChangedError(key, version, null);
  return null;
}
