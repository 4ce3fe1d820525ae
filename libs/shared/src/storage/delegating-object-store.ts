import type { Readable } from 'node:stream';
import type { ByteRange, ObjectInfo, ObjectStore, ObjectWriter, ReadOptions, WriteOptions } from './object-store.interface.js';

/**
 * An ObjectStore that hands every call to `inner`: the base of the stores that wrap another (metering,
 * injected faults), which override only the calls they change.
 */
export abstract class DelegatingObjectStore implements ObjectStore {
  constructor(protected readonly inner: ObjectStore) {}

  get location(): string {
    return this.inner.location;
  }

  createWriter(key: string, options?: WriteOptions): Promise<ObjectWriter> {
    return this.inner.createWriter(key, options);
  }

  put(key: string, body: Uint8Array, options?: WriteOptions): Promise<'written' | 'exists'> {
    return this.inner.put(key, body, options);
  }

  read(key: string, range?: ByteRange, options?: ReadOptions): Promise<Buffer | null> {
    return this.inner.read(key, range, options);
  }

  stream(key: string, range?: ByteRange, options?: ReadOptions): Promise<Readable | null> {
    return this.inner.stream(key, range, options);
  }

  stat(key: string): Promise<ObjectInfo | null> {
    return this.inner.stat(key);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return this.inner.list(prefix);
  }

  listFolders(prefix: string): AsyncIterable<string> {
    return this.inner.listFolders(prefix);
  }

  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }

  deletePrefix(prefix: string): Promise<number> {
    return this.inner.deletePrefix(prefix);
  }

  sweepPartial(olderThan: number): Promise<number> {
    return this.inner.sweepPartial(olderThan);
  }
}
