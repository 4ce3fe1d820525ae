import type { Redis } from 'ioredis';
import { DelegatingObjectStore } from './delegating-object-store.js';
import type { ObjectInfo, ObjectStore, ObjectWriter, WriteOptions } from './object-store.interface.js';

/** Fields of the counters hash (OpsStore reads them for shardwise_store_bytes / shardwise_store_objects). */
export const STORE_BYTES = 'bytes';
export const STORE_OBJECTS = 'objects';

/**
 * Counts the bytes and objects this installation writes to the store in a Redis hash (every API and
 * worker process adds its own writes and deletes), so that the dashboard shows the store's size
 * without listing a bucket. Objects put there by other tools are not counted. A process that dies
 * between a write and its count, or two deletes of one prefix at once, leave the figures slightly off:
 * they are a gauge for capacity, not an inventory.
 */
export class MeteredObjectStore extends DelegatingObjectStore {
  constructor(
    inner: ObjectStore,
    private readonly redis: Redis,
    private readonly key: string,
  ) {
    super(inner);
  }

  override async createWriter(key: string, options?: WriteOptions): Promise<ObjectWriter> {
    const writer = await this.inner.createWriter(key, options);
    const count = (info: ObjectInfo) => this.add(info.size, 1);
    return {
      key: writer.key,
      get bytes() {
        return writer.bytes;
      },
      write: (chunk) => writer.write(chunk),
      commit: async () => {
        const info = await writer.commit();
        if (info !== 'exists') await count(info);
        return info;
      },
      abort: () => writer.abort(),
    };
  }

  override async put(key: string, body: Uint8Array, options?: WriteOptions): Promise<'written' | 'exists'> {
    const outcome = await this.inner.put(key, body, options);
    if (outcome === 'written') await this.add(body.byteLength, 1);
    return outcome;
  }

  override async delete(key: string): Promise<void> {
    const info = await this.inner.stat(key);
    await this.inner.delete(key);
    if (info !== null) await this.add(-info.size, -1);
  }

  override async deletePrefix(prefix: string): Promise<number> {
    let bytes = 0;
    for await (const info of this.inner.list(prefix)) bytes += info.size;
    const removed = await this.inner.deletePrefix(prefix);
    if (removed > 0) await this.add(-bytes, -removed);
    return removed;
  }

  private async add(bytes: number, objects: number): Promise<void> {
    // A failed count must not fail the write or delete it describes.
    await this.redis
      .multi()
      .hincrby(this.key, STORE_BYTES, bytes)
      .hincrby(this.key, STORE_OBJECTS, objects)
      .exec()
      .catch(() => undefined);
  }
}
