/** The directory-backed object store: the shared conformance suite, then what only a filesystem has (temp files, paths, links). */
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FsObjectStore, InvalidObjectKeyError, ObjectChangedError } from '#shared';
import { collect, describeObjectStoreConformance, INVALID_KEYS, patternBytes } from '../support/object-store-conformance.js';

describeObjectStoreConformance('FsObjectStore', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'sw-fs-store-'));
  return { store: new FsObjectStore(join(dir, 'root')), cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe('FsObjectStore on disk', () => {
  let dir: string;
  let root: string;
  let store: FsObjectStore;
  const partials = async (): Promise<string[]> => readdir(join(root, '.partial')).catch(() => []);
  const hoursAgo = (hours: number): Date => new Date(Date.now() - hours * 3_600_000);

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-fs-store-'));
    root = join(dir, 'root');
    store = new FsObjectStore(root);
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('keeps each object as the file at its key, and names its root as a file URL', async () => {
    await store.put('jobs/j1/input.ndjson', Buffer.from('{"text":"a"}\n'));
    expect(await readFile(join(root, 'jobs', 'j1', 'input.ndjson'), 'utf8')).toBe('{"text":"a"}\n');
    expect(store.location).toBe(pathToFileURL(root).href);
    expect(new FsObjectStore(join(root, 'x', '..')).location).toBe(store.location);
  });

  it('writes into a hidden partial folder and leaves it empty after commit, abort and "exists"', async () => {
    const writer = await store.createWriter('a/b');
    await writer.write(patternBytes(100_000));
    expect(await partials()).toHaveLength(1);
    expect(await readdir(root)).toEqual(['.partial']);
    await writer.commit();
    const dropped = await store.createWriter('a/c');
    await dropped.write(Buffer.from('x'));
    await dropped.abort();
    expect(await store.put('a/b', Buffer.from('again'), { ifAbsent: true })).toBe('exists');
    expect(await partials()).toEqual([]);
    expect((await collect(store.list('a/'))).map((info) => info.key)).toEqual(['a/b']);
  });

  it('waits for the disk when a write outruns it (backpressure)', async () => {
    const writer = await store.createWriter('slow');
    let settled = false;
    const pending = writer.write(patternBytes(4 * 1024 * 1024)).then(() => (settled = true));
    await Promise.resolve();
    expect(settled).toBe(false);
    await pending;
    // Past the high-water mark the write resolves only once the bytes reached the temp file.
    const [temp] = await partials();
    expect((await stat(join(root, '.partial', temp!))).size).toBe(4 * 1024 * 1024);
    await writer.abort();
  });

  it('sweeps any write started before the cutoff, small ones too; a swept write cannot commit', async () => {
    const swept = await store.createWriter('sweep/swept');
    await swept.write(patternBytes(70_000));
    expect(await store.sweepPartial(Date.now() + 60_000)).toBe(1);
    await expect(swept.commit()).rejects.toThrow();
    expect(await store.stat('sweep/swept')).toBeNull();
  });

  it('sweeps partial writes by age; a write still going keeps a fresh mtime', async () => {
    const stale = await store.createWriter('s/stale');
    await stale.write(patternBytes(70_000));
    const busy = await store.createWriter('s/busy');
    await busy.write(patternBytes(70_000));
    const [first, second] = await partials();
    for (const name of [first!, second!]) await utimes(join(root, '.partial', name), hoursAgo(2), hoursAgo(2));
    // Writing again touches the file (70 kB is past the stream's buffer, so it reaches the disk before write resolves).
    await busy.write(patternBytes(70_000, 1));
    await writeFile(join(root, '.partial', 'left-by-a-crash'), 'x');
    await utimes(join(root, '.partial', 'left-by-a-crash'), hoursAgo(3), hoursAgo(3));

    expect(await store.sweepPartial(Date.now() - 3_600_000)).toBe(2);
    expect(await partials()).toHaveLength(1);
    expect(await busy.commit()).toMatchObject({ size: 140_000 });
    await expect(stale.commit()).rejects.toThrow(/partial write of object "s\/stale".*removed before commit/);
    expect(await store.sweepPartial(Date.now() + 60_000)).toBe(0);
  });

  it('versions by inode, size and mtime, checked on the open file', async () => {
    await store.put('v', Buffer.from('same'));
    const first = (await store.stat('v'))!;
    const { ino, size, mtimeMs } = await stat(join(root, 'v'), { bigint: true });
    expect(first.version).toMatch(new RegExp(`^${ino}-${size}-${mtimeMs}\\d{6}$`));
    // Replaced behind the store's back with the same bytes: still another object.
    await writeFile(join(dir, 'outside'), 'same');
    await rename(join(dir, 'outside'), join(root, 'v'));
    await expect(store.read('v', undefined, { version: first.version })).rejects.toBeInstanceOf(ObjectChangedError);
    expect(await store.read('v', undefined, { version: (await store.stat('v'))!.version })).toEqual(Buffer.from('same'));
  });

  it('lists regular files with key names only: no dot-files, odd names or links', async () => {
    await store.put('l/real', Buffer.from('x'));
    await writeFile(join(root, 'l', '.tmp-123'), 'x');
    await writeFile(join(root, 'l', 'has space'), 'x');
    await mkdir(join(root, 'l', '.hidden-folder'));
    await writeFile(join(root, 'l', '.hidden-folder', 'x'), 'x');
    await writeFile(join(dir, 'secret'), 'outside the root');
    await symlink(join(dir, 'secret'), join(root, 'l', 'link'));
    await symlink(dir, join(root, 'l', 'folder-link'));
    expect((await collect(store.list('l/'))).map((info) => info.key)).toEqual(['l/real']);
    expect(await collect(store.listFolders('l/'))).toEqual([]);
    // A link is not an object: it is not followed.
    expect(await store.read('l/link')).toBeNull();
    expect(await store.stat('l/link')).toBeNull();
    expect(await store.stream('l/link')).toBeNull();
    expect(await store.deletePrefix('l/')).toBe(1);
    expect(await readFile(join(dir, 'secret'), 'utf8')).toBe('outside the root');
  });

  it('never touches a path outside the root, whatever the key', async () => {
    await writeFile(join(dir, 'victim'), 'keep me');
    const tricks = [
      ...INVALID_KEYS,
      '..',
      '../victim',
      '../../victim',
      'a/../../victim',
      '%2e%2e/victim',
      '..%2fvictim',
      'a/..\\..\\victim',
      'a\u0000b',
      '~/victim',
      'C:\\victim',
      ' victim',
    ];
    for (const key of tricks) {
      await expect(store.put(key, Buffer.from('overwritten')), JSON.stringify(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
      await expect(store.delete(key), JSON.stringify(key)).rejects.toBeInstanceOf(InvalidObjectKeyError);
    }
    await expect(store.deletePrefix('../')).rejects.toBeInstanceOf(InvalidObjectKeyError);
    expect(await readFile(join(dir, 'victim'), 'utf8')).toBe('keep me');
    expect((await readdir(dir)).sort()).toEqual(['victim']);
  });

  it('cannot hold an object and a folder of the same name', async () => {
    await store.put('a', Buffer.from('object'));
    await expect(store.put('a/b', Buffer.from('x'))).rejects.toMatchObject({ code: expect.stringMatching(/ENOTDIR|EEXIST/) });
    await store.put('f/x', Buffer.from('x'));
    await expect(store.put('f', Buffer.from('x'))).rejects.toThrow();
    await expect(store.put('f', Buffer.from('x'), { ifAbsent: true })).rejects.toThrow(/a folder of that name/);
    expect(await store.read('a')).toEqual(Buffer.from('object'));
    expect(await partials()).toEqual([]);
  });

  it('loses no commit to a delete pruning the same folder at the same moment', async () => {
    for (let round = 0; round < 200; round++) {
      await store.put('race/old', Buffer.from('old'));
      const ifAbsent = round % 2 === 0;
      const [, outcome] = await Promise.all([store.delete('race/old'), store.put('race/new', Buffer.from(`new ${round}`), { ifAbsent })]);
      expect(outcome).toBe('written');
      expect(await store.read('race/new')).toEqual(Buffer.from(`new ${round}`));
      await store.delete('race/new');
    }
    expect(await partials()).toEqual([]);
  });

  it('prunes folders that deletes leave empty, but never the root', async () => {
    await store.put('jobs/j1/results/000000.swr', Buffer.from('x'));
    await store.put('jobs/j2/input.ndjson', Buffer.from('x'));
    await store.delete('jobs/j2/input.ndjson');
    expect(await readdir(join(root, 'jobs'))).toEqual(['j1']);
    expect(await store.deletePrefix('jobs/j1/')).toBe(1);
    expect((await readdir(root)).filter((name) => name !== '.partial')).toEqual([]);
    expect(relative(dir, root)).toBe('root');
    expect((await stat(root)).isDirectory()).toBe(true);
  });
});
