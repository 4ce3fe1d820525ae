/** The test-only fault store: each fault, per-key counts, key filtering, and the SHARDWISE_FAULT_STORE_* parser. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConfigError, FaultyObjectStore, faultOptionsFromEnv, InjectedFaultError, type ObjectStoreFaults, FsObjectStore } from '#shared';
import { collect, describeObjectStoreConformance, drain } from '../support/object-store-conformance.js';

describeObjectStoreConformance('FaultyObjectStore without faults', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sw-faulty-store-'));
  return { store: new FaultyObjectStore(new FsObjectStore(dir), {}), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('FaultyObjectStore', () => {
  let dir: string;
  let inner: FsObjectStore;
  const faulty = (faults: ObjectStoreFaults): FaultyObjectStore => new FaultyObjectStore(inner, faults);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-faulty-store-'));
    inner = new FsObjectStore(dir);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('fails the first N puts and commits of each key with ENOSPC, publishing nothing', async () => {
    const store = faulty({ failWrites: 2 });
    for (const attempt of [1, 2]) {
      const failure = store.put('a', Buffer.from('bytes'));
      await expect(failure).rejects.toBeInstanceOf(InjectedFaultError);
      await expect(failure).rejects.toMatchObject({
        code: 'ENOSPC',
        message: expect.stringMatching(new RegExp(`^ENOSPC: no space left on device.*"a".*fault injected.*write ${attempt} of 2`)),
      });
      expect(await inner.stat('a')).toBeNull();
    }
    expect(await store.put('a', Buffer.from('bytes'))).toBe('written');

    const writer = await store.createWriter('b');
    await writer.write(Buffer.from('part one'));
    await expect(writer.commit()).rejects.toMatchObject({ code: 'ENOSPC' });
    await expect(writer.commit()).rejects.toMatchObject({ code: 'ENOSPC' });
    await expect(writer.write(Buffer.from('more'))).rejects.toMatchObject({ code: 'ENOSPC' });
    await writer.abort();
    await expect(store.put('b', Buffer.from('x'))).rejects.toMatchObject({ message: expect.stringContaining('write 2 of 2') });
    const third = await store.createWriter('b');
    await third.write(Buffer.from('whole'));
    expect(await third.commit()).toMatchObject({ key: 'b', size: 5 });
    // Failed writes leave no partial write behind.
    expect(await inner.sweepPartial(Date.now() + 60_000)).toBe(0);
  });

  it('fails the first N reads and streams of each key with EIO, then reads', async () => {
    await inner.put('k', Buffer.from('content'));
    await inner.put('other', Buffer.from('other'));
    const store = faulty({ failReads: 2 });
    await expect(store.read('k')).rejects.toMatchObject({ code: 'EIO', message: expect.stringMatching(/^EIO: .*"k".*fault injected.*read 1 of 2/) });
    await expect(store.stream('k')).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('read 2 of 2') });
    expect(await store.read('k')).toEqual(Buffer.from('content'));
    expect(await drain((await store.stream('k'))!)).toEqual(Buffer.from('content'));
    await expect(store.read('other', { start: 0, end: 2 })).rejects.toMatchObject({ code: 'EIO' });
    // Metadata is not a read.
    expect(await store.stat('other')).toMatchObject({ size: 5 });
    expect((await collect(store.list('k/'))).length).toBe(0);
  });

  it('fails every read when the fault is permanent', async () => {
    await inner.put('k', Buffer.from('content'));
    const store = faulty({ failReadsAlways: true });
    for (let i = 0; i < 5; i++) await expect(store.read('k')).rejects.toMatchObject({ code: 'EIO', message: expect.stringContaining('every read fails') });
    await expect(store.stream('k')).rejects.toMatchObject({ code: 'EIO' });
    expect(await store.put('k2', Buffer.from('writes still work'))).toBe('written');
  });

  it('delays every read', async () => {
    await inner.put('k', Buffer.from('content'));
    const store = faulty({ readDelayMs: 60 });
    for (let i = 0; i < 2; i++) {
      const started = performance.now();
      expect(await store.read('k')).toEqual(Buffer.from('content'));
      expect(performance.now() - started).toBeGreaterThanOrEqual(55);
    }
  });

  it('touches only keys matching keyPattern, even with a global flag', async () => {
    await inner.put('jobs/j/results/000001.swr', Buffer.from('r'));
    await inner.put('jobs/j/input.ndjson', Buffer.from('i'));
    const store = faulty({ failReadsAlways: true, failWrites: 1, keyPattern: /\/results\//g });
    for (let i = 0; i < 3; i++) {
      await expect(store.read('jobs/j/results/000001.swr')).rejects.toMatchObject({ code: 'EIO' });
      expect(await store.read('jobs/j/input.ndjson')).toEqual(Buffer.from('i'));
    }
    expect(await store.put('jobs/j/manifest.json', Buffer.from('{}'))).toBe('written');
    await expect(store.put('jobs/j/results/000002.swr', Buffer.from('r'))).rejects.toMatchObject({ code: 'ENOSPC' });
  });

  it('names itself after the store it wraps', () => {
    expect(faulty({}).location).toContain(inner.location);
    expect(faulty({}).location).toMatch(/fault/);
  });
});

describe('faultOptionsFromEnv', () => {
  it('is undefined when no fault is asked for', () => {
    expect(faultOptionsFromEnv({})).toBeUndefined();
    expect(faultOptionsFromEnv({ SHARDWISE_FAULT_STORE_WRITE: '', SHARDWISE_FAULT_STORE_READ: '  ', RESULTS_DIR: '/data' })).toBeUndefined();
    expect(faultOptionsFromEnv({ SHARDWISE_FAULT_STORE_WRITE: '0', SHARDWISE_FAULT_STORE_KEYS: 'x' })).toBeUndefined();
  });

  it('reads counts, "always", the delay and the key pattern', () => {
    expect(faultOptionsFromEnv({ SHARDWISE_FAULT_STORE_WRITE: '2' })).toEqual({ failWrites: 2 });
    expect(faultOptionsFromEnv({ SHARDWISE_FAULT_STORE_READ: '3', SHARDWISE_FAULT_STORE_READ_DELAY_MS: '250' })).toEqual({ failReads: 3, readDelayMs: 250 });
    expect(faultOptionsFromEnv({ SHARDWISE_FAULT_STORE_READ: 'always' })).toEqual({ failReadsAlways: true });
    expect(faultOptionsFromEnv({ SHARDWISE_FAULT_STORE_READ: ' ALWAYS ' })).toEqual({ failReadsAlways: true });
    const faults = faultOptionsFromEnv({ SHARDWISE_FAULT_STORE_WRITE: '1', SHARDWISE_FAULT_STORE_KEYS: '^jobs/.*/results/' });
    expect(faults?.keyPattern?.test('jobs/j/results/000001.swr')).toBe(true);
    expect(faults?.keyPattern?.test('files/f')).toBe(false);
  });

  it('rejects bad values, naming each variable', () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ SHARDWISE_FAULT_STORE_WRITE: 'two' }, /SHARDWISE_FAULT_STORE_WRITE="two"/],
      [{ SHARDWISE_FAULT_STORE_WRITE: '-1' }, /SHARDWISE_FAULT_STORE_WRITE="-1"/],
      [{ SHARDWISE_FAULT_STORE_READ: '1.5' }, /SHARDWISE_FAULT_STORE_READ="1.5".*"always"/],
      [{ SHARDWISE_FAULT_STORE_READ: 'sometimes' }, /SHARDWISE_FAULT_STORE_READ="sometimes"/],
      [{ SHARDWISE_FAULT_STORE_READ_DELAY_MS: '1s' }, /SHARDWISE_FAULT_STORE_READ_DELAY_MS="1s"/],
      [{ SHARDWISE_FAULT_STORE_READ: '1', SHARDWISE_FAULT_STORE_KEYS: '(' }, /SHARDWISE_FAULT_STORE_KEYS="\(": not a regular expression/],
      [{ SHARDWISE_FAULT_STORE_KEYS: 'results' }, /SHARDWISE_FAULT_STORE_KEYS is set but no fault is/],
    ];
    for (const [env, message] of cases) {
      expect(() => faultOptionsFromEnv(env), JSON.stringify(env)).toThrow(ConfigError);
      expect(() => faultOptionsFromEnv(env), JSON.stringify(env)).toThrow(message);
    }
  });

  it('reports every bad variable at once', () => {
    expect(() => faultOptionsFromEnv({ SHARDWISE_FAULT_STORE_WRITE: 'x', SHARDWISE_FAULT_STORE_READ_DELAY_MS: 'y' })).toThrow(
      /SHARDWISE_FAULT_STORE_WRITE="x"[\s\S]*SHARDWISE_FAULT_STORE_READ_DELAY_MS="y"/,
    );
  });
});
