/**
 * What every ObjectStore backend must do, as one vitest suite: each backend's test file calls
 * describeObjectStoreConformance with a factory for a fresh, empty store. Backend-specific checks
 * (when a write leaves something to sweep and how it is aged, where bytes land) stay in that
 * backend's own test file: a folder holds every partial write in a temp file, a bucket only the
 * parts of a multipart upload (a small object stays in the writer's memory until commit).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidObjectKeyError, ObjectChangedError, type ObjectInfo, type ObjectStore } from '#shared';

export interface ObjectStoreUnderTest {
  store: ObjectStore;
  cleanup(): Promise<void>;
}

export const INVALID_KEYS = ['../x', '/abs', 'a//b', '.hidden', '', 'a/../b', 'a/./b', 'a/', 'a\\b', 'a/.partial/x', 'x'.repeat(1025)];
export const INVALID_PREFIXES = ['../', '/', 'a', '.partial/', 'a//', ''];

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

export async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** `length` bytes that differ from position to position, and from one `seed` to another. */
export function patternBytes(length: number, seed = 0): Buffer {
  const bytes = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return bytes;
}

const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

export interface ConformanceOptions {
  /**
   * ifAbsent is atomic: of writers committing one key at the same moment exactly one gets 'written'.
   * False for a bucket without conditional writes, where the suite checks the weaker promise: the
   * object is whole and is the bytes of a writer that got 'written'. @defaultValue true
   */
  atomicIfAbsent?: boolean;
}

export function describeObjectStoreConformance(name: string, create: () => Promise<ObjectStoreUnderTest>, options: ConformanceOptions = {}): void {
  const atomicIfAbsent = options.atomicIfAbsent ?? true;
  describe(`ObjectStore conformance: ${name}`, () => {
    let subject: ObjectStoreUnderTest;
    let store: ObjectStore;

    beforeEach(async () => {
      subject = await create();
      store = subject.store;
    });

    afterEach(async () => {
      await subject.cleanup();
    });

    describe('whole objects', () => {
      it('reads back what was put, with its size, version and time', async () => {
        const before = Date.now();
        expect(await store.put('a/b/c.txt', Buffer.from('hello'))).toBe('written');
        expect(await store.read('a/b/c.txt')).toEqual(Buffer.from('hello'));
        const info = await store.stat('a/b/c.txt');
        expect(info).toMatchObject({ key: 'a/b/c.txt', size: 5 });
        expect(info!.version).toEqual(expect.any(String));
        expect(info!.version.length).toBeGreaterThan(0);
        expect(info!.modifiedAt).toBeGreaterThanOrEqual(before - 2_000);
        expect(info!.modifiedAt).toBeLessThanOrEqual(Date.now() + 2_000);
        expect(await drain((await store.stream('a/b/c.txt'))!)).toEqual(Buffer.from('hello'));
      });

      it('keeps an empty object', async () => {
        await store.put('empty', new Uint8Array(0));
        expect(await store.read('empty')).toEqual(Buffer.alloc(0));
        expect(await store.stat('empty')).toMatchObject({ size: 0 });
        expect(await drain((await store.stream('empty'))!)).toEqual(Buffer.alloc(0));
      });

      it('answers null for a missing object, and for a folder, which is not one', async () => {
        expect(await store.read('missing')).toBeNull();
        expect(await store.read('missing', { start: 0, end: 1 })).toBeNull();
        expect(await store.stream('missing')).toBeNull();
        expect(await store.stat('missing')).toBeNull();
        await store.put('folder/inside', Buffer.from('x'));
        expect(await store.stat('folder')).toBeNull();
        expect(await store.read('folder')).toBeNull();
        expect(await store.stream('folder')).toBeNull();
        expect(await store.read('folder/inside/deeper')).toBeNull();
      });
    });

    describe('ranged reads', () => {
      const body = patternBytes(256);
      const ranges = [
        { start: 0, end: 10 },
        { start: 100, end: 150 },
        { start: 246, end: 256 },
        { start: 0, end: 256 },
        { start: 50, end: 50 },
        { start: 256, end: 256 },
      ];

      it('reads [start, end) at the start, middle and end, and empty ranges', async () => {
        await store.put('r/obj', body);
        for (const range of ranges) {
          expect(await store.read('r/obj', range), `read [${range.start}, ${range.end})`).toEqual(body.subarray(range.start, range.end));
          expect(await drain((await store.stream('r/obj', range))!), `stream [${range.start}, ${range.end})`).toEqual(body.subarray(range.start, range.end));
        }
      });

      it('rejects a range past the end, naming the key and sizes', async () => {
        await store.put('r/obj', body);
        for (const range of [
          { start: 250, end: 257 },
          { start: 300, end: 400 },
        ]) {
          await expect(store.read('r/obj', range)).rejects.toThrow(RangeError);
          const message = ((await store.read('r/obj', range).catch((error: unknown) => error)) as Error).message;
          for (const part of ['r/obj', String(range.end), '256']) expect(message).toContain(part);
          await expect(store.stream('r/obj', range)).rejects.toThrow(RangeError);
        }
      });

      it('rejects ranges that are not ranges', async () => {
        await store.put('r/obj', body);
        for (const range of [
          { start: 10, end: 5 },
          { start: -1, end: 5 },
          { start: 0.5, end: 2 },
        ]) {
          await expect(store.read('r/obj', range)).rejects.toThrow(RangeError);
        }
      });
    });

    describe('streamed writes', () => {
      it('writes a few MB in many chunks, awaiting each write', async () => {
        const body = patternBytes(3 * 1024 * 1024 + 123);
        const writer = await store.createWriter('big/object.bin');
        expect(writer.key).toBe('big/object.bin');
        let offset = 0;
        for (let chunk = 1; offset < body.length; chunk++) {
          const size = (chunk * 7919) % 65_536 || 1;
          await writer.write(body.subarray(offset, offset + size));
          offset += size;
          expect(writer.bytes).toBe(Math.min(offset, body.length));
        }
        const info = await writer.commit();
        expect(info).toMatchObject({ key: 'big/object.bin', size: body.length });
        expect(info).toEqual(await store.stat('big/object.bin'));
        expect(sha256((await store.read('big/object.bin'))!)).toBe(sha256(body));
        expect(sha256(await drain((await store.stream('big/object.bin'))!))).toBe(sha256(body));
      });

      it('keeps the order of writes a caller did not await', async () => {
        const chunks = Array.from({ length: 200 }, (_, i) => patternBytes(4096 + i, i));
        const writer = await store.createWriter('unawaited');
        await Promise.all(chunks.map((chunk) => writer.write(chunk)));
        await writer.commit();
        expect(sha256((await store.read('unawaited'))!)).toBe(sha256(Buffer.concat(chunks)));
      });

      it('shows nothing before commit', async () => {
        const writer = await store.createWriter('pending/object');
        await writer.write(patternBytes(100_000));
        expect(await store.stat('pending/object')).toBeNull();
        expect(await store.read('pending/object')).toBeNull();
        expect(await collect(store.list('pending/'))).toEqual([]);
        await writer.commit();
        expect(await store.stat('pending/object')).toMatchObject({ size: 100_000 });
      });

      it('leaves nothing after abort, and takes no more writes', async () => {
        const writer = await store.createWriter('aborted/object');
        await writer.write(patternBytes(100_000));
        await writer.abort();
        await writer.abort();
        expect(await store.stat('aborted/object')).toBeNull();
        expect(await collect(store.list('aborted/'))).toEqual([]);
        expect(await store.sweepPartial(Date.now() + 60_000)).toBe(0);
        await expect(writer.write(Buffer.from('x'))).rejects.toThrow();
        await expect(writer.commit()).rejects.toThrow();
      });

      it('ignores abort after commit, and refuses a second commit', async () => {
        const writer = await store.createWriter('committed');
        await writer.write(Buffer.from('kept'));
        await writer.commit();
        await writer.abort();
        await expect(writer.commit()).rejects.toThrow();
        expect(await store.read('committed')).toEqual(Buffer.from('kept'));
      });
    });

    describe('ifAbsent', () => {
      it('keeps the first object written', async () => {
        expect(await store.put('once', Buffer.from('first'), { ifAbsent: true })).toBe('written');
        expect(await store.put('once', Buffer.from('second'), { ifAbsent: true })).toBe('exists');
        const writer = await store.createWriter('once', { ifAbsent: true });
        await writer.write(Buffer.from('third'));
        expect(await writer.commit()).toBe('exists');
        expect(await store.read('once')).toEqual(Buffer.from('first'));
        expect(await store.sweepPartial(Date.now() + 60_000)).toBe(0);
      });

      it('lets the first of two open writers to commit win', async () => {
        const early = await store.createWriter('race/object', { ifAbsent: true });
        const late = await store.createWriter('race/object', { ifAbsent: true });
        await early.write(Buffer.from('opened first'));
        await late.write(Buffer.from('committed first'));
        expect(await late.commit()).toMatchObject({ key: 'race/object', size: 15 });
        expect(await early.commit()).toBe('exists');
        expect(await store.read('race/object')).toEqual(Buffer.from('committed first'));
      });

      it('publishes exactly one of many concurrent commits, whole', async () => {
        const bodies = Array.from({ length: 8 }, (_, i) => patternBytes(256 * 1024, i + 1));
        const writers = await Promise.all(bodies.map(() => store.createWriter('race/many', { ifAbsent: true })));
        await Promise.all(writers.map((writer, i) => writer.write(bodies[i]!)));
        const outcomes = await Promise.all(writers.map((writer) => writer.commit()));
        const winners = outcomes.flatMap((outcome, i) => (outcome === 'exists' ? [] : [i]));
        const stored = sha256((await store.read('race/many'))!);
        if (atomicIfAbsent) {
          expect(winners).toHaveLength(1);
          expect(stored).toBe(sha256(bodies[winners[0]!]!));
        } else {
          expect(winners.length).toBeGreaterThanOrEqual(1);
          expect(winners.map((i) => sha256(bodies[i]!))).toContain(stored);
        }
        expect(await store.sweepPartial(Date.now() + 60_000)).toBe(0);
      });

      it('answers one "written" to concurrent puts', async () => {
        const bodies = Array.from({ length: 8 }, (_, i) => patternBytes(64 * 1024, i));
        const outcomes = await Promise.all(bodies.map((body) => store.put('race/put', body, { ifAbsent: true })));
        const winners = outcomes.flatMap((outcome, i) => (outcome === 'written' ? [i] : []));
        const stored = sha256((await store.read('race/put'))!);
        if (atomicIfAbsent) expect(winners).toHaveLength(1);
        else expect(winners.length).toBeGreaterThanOrEqual(1);
        expect(winners.map((i) => sha256(bodies[i]!))).toContain(stored);
      });
    });

    describe('replace and versions', () => {
      it('replaces without ifAbsent, through put and writers', async () => {
        expect(await store.put('doc', Buffer.from('one'))).toBe('written');
        expect(await store.put('doc', Buffer.from('two'))).toBe('written');
        expect(await store.read('doc')).toEqual(Buffer.from('two'));
        const writer = await store.createWriter('doc');
        await writer.write(Buffer.from('three'));
        expect(await writer.commit()).toMatchObject({ key: 'doc', size: 5 });
        expect(await store.read('doc')).toEqual(Buffer.from('three'));
      });

      it('changes the version on replace and refuses stale versions', async () => {
        await store.put('doc', Buffer.from('AAAA'));
        const first = (await store.stat('doc'))!;
        expect(await store.read('doc', undefined, { version: first.version })).toEqual(Buffer.from('AAAA'));
        expect(await store.read('doc', { start: 1, end: 3 }, { version: first.version })).toEqual(Buffer.from('AA'));
        // Other bytes of the same size: a bucket's ETag would not change for the same bytes.
        await store.put('doc', Buffer.from('BBBB'));
        const second = (await store.stat('doc'))!;
        expect(second.version).not.toBe(first.version);
        const stale = store.read('doc', { start: 0, end: 2 }, { version: first.version });
        await expect(stale).rejects.toBeInstanceOf(ObjectChangedError);
        await expect(store.read('doc', undefined, { version: first.version })).rejects.toMatchObject({ key: 'doc', expected: first.version, actual: second.version });
        await expect(store.stream('doc', undefined, { version: first.version })).rejects.toBeInstanceOf(ObjectChangedError);
        expect(await drain((await store.stream('doc', undefined, { version: second.version }))!)).toEqual(Buffer.from('BBBB'));
      });

      it('reports a deleted object as changed to a reader that holds its version', async () => {
        await store.put('doc', Buffer.from('gone soon'));
        const { version } = (await store.stat('doc'))!;
        await store.delete('doc');
        await expect(store.read('doc', undefined, { version })).rejects.toMatchObject({ name: 'ObjectChangedError', key: 'doc', actual: null });
        await expect(store.stream('doc', undefined, { version })).rejects.toMatchObject({ name: 'ObjectChangedError', actual: null });
      });
    });

    describe('listing', () => {
      const keys = ['p/b', 'p/a/2', 'p/a/1', 'p/a-c', 'p/a0', 'p/z/y/x', 'q/other', 'px', 'p0/y'];

      it('lists every object under a prefix, recursively, in key order', async () => {
        for (const [i, key] of keys.entries()) await store.put(key, patternBytes(i + 1, i));
        const listed = await collect(store.list('p/'));
        expect(listed.map((info) => info.key)).toEqual(['p/a-c', 'p/a/1', 'p/a/2', 'p/a0', 'p/b', 'p/z/y/x']);
        for (const info of listed) expect(info).toEqual(await store.stat(info.key));
        expect((await collect(store.list('p/a/'))).map((info) => info.key)).toEqual(['p/a/1', 'p/a/2']);
        expect(await collect(store.list('nothing/'))).toEqual([]);
        expect(await collect(store.list('px/'))).toEqual([]);
      });

      it('lists the folders directly under a prefix, in key order', async () => {
        for (const key of keys) await store.put(key, Buffer.from('x'));
        expect(await collect(store.listFolders('p/'))).toEqual(['p/a/', 'p/z/']);
        expect(await collect(store.listFolders('p/z/'))).toEqual(['p/z/y/']);
        expect(await collect(store.listFolders('p/z/y/'))).toEqual([]);
        expect(await collect(store.listFolders('nothing/'))).toEqual([]);
      });
    });

    describe('deleting', () => {
      it('deletes a prefix, counting the objects, and nothing beside it', async () => {
        for (const key of ['d/1', 'd/2', 'd/3', 'd/sub/4', 'dd/x', 'd-e', 'e']) await store.put(key, Buffer.from(key));
        expect(await store.deletePrefix('d/')).toBe(4);
        expect(await collect(store.list('d/'))).toEqual([]);
        expect(await collect(store.listFolders('d/'))).toEqual([]);
        expect(await store.stat('d/sub/4')).toBeNull();
        for (const key of ['dd/x', 'd-e', 'e']) expect(await store.read(key)).toEqual(Buffer.from(key));
        expect(await store.deletePrefix('d/')).toBe(0);
        expect(await store.deletePrefix('never/')).toBe(0);
      });

      it('deletes one object, again and again without error', async () => {
        await store.delete('never-there');
        await store.put('del/me', Buffer.from('x'));
        await store.put('del/keep', Buffer.from('y'));
        await store.delete('del/me');
        await store.delete('del/me');
        expect(await store.stat('del/me')).toBeNull();
        expect(await store.read('del/keep')).toEqual(Buffer.from('y'));
        // A folder is not an object: deleting its name removes nothing.
        await store.delete('del');
        expect(await store.read('del/keep')).toEqual(Buffer.from('y'));
        expect((await collect(store.list('del/'))).map((info: ObjectInfo) => info.key)).toEqual(['del/keep']);
      });

      it('writes a key again after its folder was deleted', async () => {
        await store.put('again/x', Buffer.from('1'));
        await store.deletePrefix('again/');
        await store.put('again/x', Buffer.from('2'), { ifAbsent: true });
        expect(await store.read('again/x')).toEqual(Buffer.from('2'));
      });
    });

    describe('keys', () => {
      it('rejects keys that are not store paths, in every call', async () => {
        for (const key of INVALID_KEYS) {
          const label = JSON.stringify(key);
          await expect(store.put(key, Buffer.from('x')), label).rejects.toBeInstanceOf(InvalidObjectKeyError);
          await expect(store.createWriter(key), label).rejects.toBeInstanceOf(InvalidObjectKeyError);
          await expect(store.read(key), label).rejects.toBeInstanceOf(InvalidObjectKeyError);
          await expect(store.stream(key), label).rejects.toBeInstanceOf(InvalidObjectKeyError);
          await expect(store.stat(key), label).rejects.toBeInstanceOf(InvalidObjectKeyError);
          await expect(store.delete(key), label).rejects.toBeInstanceOf(InvalidObjectKeyError);
        }
      });

      it('rejects prefixes that are not store folders', async () => {
        for (const prefix of INVALID_PREFIXES) {
          const label = JSON.stringify(prefix);
          await expect(collect(store.list(prefix)), label).rejects.toBeInstanceOf(InvalidObjectKeyError);
          await expect(collect(store.listFolders(prefix)), label).rejects.toBeInstanceOf(InvalidObjectKeyError);
          await expect(store.deletePrefix(prefix), label).rejects.toBeInstanceOf(InvalidObjectKeyError);
        }
      });
    });

    describe('partial writes', () => {
      it('sweeps no write that started after the cutoff', async () => {
        const kept = await store.createWriter('sweep/kept');
        await kept.write(patternBytes(1000));
        expect(await store.sweepPartial(Date.now() - 60_000)).toBe(0);
        expect(await kept.commit()).toMatchObject({ size: 1000 });
        expect(await store.read('sweep/kept')).toEqual(patternBytes(1000));
      });
    });
  });
}
