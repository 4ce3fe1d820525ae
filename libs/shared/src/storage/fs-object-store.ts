import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { constants, type BigIntStats, type Dirent, type WriteStream } from 'node:fs';
import { link, lstat, mkdir, open, readdir, rename, rm, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';
import { Readable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import {
  assertByteRange,
  assertObjectKey,
  InvalidObjectKeyError,
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

/** Writes in progress live here. Keys cannot start with a dot, so no object can ever collide with it. */
const PARTIAL_DIR = '.partial';
/** Calls in flight at once to stat or remove the files of one folder: a shared volume is slow per call, so they overlap. */
const FOLDER_BATCH = 64;
/** A delete may prune the folder a commit has just created; publishing creates it again this many times. */
const PUBLISH_ATTEMPTS = 5;
/** What link() answers on a filesystem without hard links (some SMB and FUSE volumes). */
const NO_HARD_LINKS = new Set<string | undefined>(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);
/** O_NOFOLLOW: only regular files are objects, a link someone placed in the volume is neither listed nor followed. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;

/**
 * An object store in a directory on a local or shared (ReadWriteMany) volume: key `a/b/c` is the
 * file `<root>/a/b/c`. Writers fill a temp file in `<root>/.partial/` (same filesystem) and publish it
 * with one rename, or with link() when the key must be absent: link fails with EEXIST instead of
 * replacing, so the first writer of a key wins and no reader ever sees a torn object.
 *
 * `version` is `<inode>-<size>-<mtime ns>`: every publish is a new inode, and the mtime tells a reused
 * inode number apart. Keys and their prefixes cannot overlap here as they can in a bucket: once `a`
 * is an object, `a/b` cannot be written, and the other way round.
 */
export class FsObjectStore implements ObjectStore {
  readonly location: string;
  private readonly root: string;
  private readonly partialDir: string;
  /** The partial-writes folder, made once (again after a failure). */
  private partialReady: Promise<unknown> | undefined;

  constructor(root: string) {
    this.root = resolve(root);
    this.partialDir = join(this.root, PARTIAL_DIR);
    this.location = pathToFileURL(this.root).href;
  }

  async createWriter(key: string, options: WriteOptions = {}): Promise<ObjectWriter> {
    const target = this.pathOf(key);
    const { tempPath, handle } = await this.openTemp();
    return new FsObjectWriter(key, this.location, tempPath, handle, () => this.publish(key, tempPath, target, options.ifAbsent === true));
  }

  /** One write and one sync, without the stream a writer needs: shard results and manifests take this path. */
  async put(key: string, body: Uint8Array, options: WriteOptions = {}): Promise<'written' | 'exists'> {
    const target = this.pathOf(key);
    const { tempPath, handle } = await this.openTemp();
    try {
      try {
        for (let written = 0; written < body.byteLength; ) written += (await handle.write(body, written, body.byteLength - written)).bytesWritten;
        await handle.datasync();
      } finally {
        await handle.close();
      }
      return (await this.publish(key, tempPath, target, options.ifAbsent === true)) === 'exists' ? 'exists' : 'written';
    } catch (error) {
      await rm(tempPath, { force: true });
      throw error;
    }
  }

  /** A new file in the partial-writes folder (made once, and again if something removed it). */
  private async openTemp(): Promise<{ tempPath: string; handle: FileHandle }> {
    for (let attempt = 1; ; attempt++) {
      this.partialReady ??= mkdir(this.partialDir, { recursive: true });
      try {
        await this.partialReady;
        const tempPath = join(this.partialDir, randomUUID());
        return { tempPath, handle: await open(tempPath, 'wx') };
      } catch (error) {
        this.partialReady = undefined;
        if (codeOf(error) !== 'ENOENT' || attempt >= 2) throw error;
      }
    }
  }

  async read(key: string, range?: ByteRange, options: ReadOptions = {}): Promise<Buffer | null> {
    const opened = await this.openObject(key, range, options.version);
    if (!opened) return null;
    const { handle, start, end } = opened;
    try {
      const buffer = Buffer.allocUnsafe(end - start);
      // One positioned read; more only if the kernel answers short.
      for (let filled = 0; filled < buffer.length; ) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, start + filled);
        if (bytesRead === 0) throw new Error(`object ${JSON.stringify(key)} in ${this.location} shrank to ${start + filled} bytes while being read`);
        filled += bytesRead;
      }
      return buffer;
    } finally {
      await handle.close();
    }
  }

  async stream(key: string, range?: ByteRange, options: ReadOptions = {}): Promise<Readable | null> {
    const opened = await this.openObject(key, range, options.version);
    if (!opened) return null;
    const { handle, start, end } = opened;
    if (start === end) {
      await handle.close();
      return Readable.from([], { objectMode: false });
    }
    // The stream reads the handle that was version-checked, so a replace in between cannot switch objects; it closes it at the end.
    return handle.createReadStream({ start, end: end - 1 });
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    return infoAt(this.pathOf(key), key);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    yield* this.walk(this.pathOf(prefix, { prefix: true }), prefix);
  }

  async *listFolders(prefix: string): AsyncIterable<string> {
    const names = (await readFolder(this.pathOf(prefix, { prefix: true })))
      .filter((entry) => entry.isDirectory() && isObjectKey(entry.name))
      .map((entry) => `${prefix}${entry.name}/`)
      .sort(byCodeUnits);
    // A folder emptied by a crash between mkdir and publish shows here until deleted; a bucket would not list it.
    yield* names;
  }

  async delete(key: string): Promise<void> {
    const path = this.pathOf(key);
    try {
      await unlink(path);
    } catch (error) {
      if (isMissing(error)) return;
      // unlink() of a folder: EISDIR on Linux, EPERM elsewhere. Folders are not objects.
      if ((codeOf(error) === 'EISDIR' || codeOf(error) === 'EPERM') && (await isFolder(path))) return;
      throw error;
    }
    await this.prune(dirname(path));
  }

  async deletePrefix(prefix: string): Promise<number> {
    const folder = this.pathOf(prefix, { prefix: true });
    const removed = await removeTree(folder);
    await this.prune(dirname(folder));
    return removed;
  }

  async sweepPartial(olderThan: number): Promise<number> {
    let names: string[];
    try {
      names = await readdir(this.partialDir);
    } catch (error) {
      if (isMissing(error)) return 0;
      throw error;
    }
    let removed = 0;
    for (let i = 0; i < names.length; i += FOLDER_BATCH) {
      const batch = names.slice(i, i + FOLDER_BATCH).map(async (name) => {
        const path = join(this.partialDir, name);
        // Every write touches the temp file, so a writer still at work keeps a fresh mtime.
        const stats = await lstat(path).catch(() => null);
        if (stats === null || !stats.isFile() || stats.mtimeMs >= olderThan) return false;
        return unlinkCounted(path);
      });
      for (const swept of await Promise.all(batch)) if (swept) removed++;
    }
    return removed;
  }

  /** Publishes a finished temp file as `target`: 'exists' when `ifAbsent` found the key taken. */
  private async publish(key: string, tempPath: string, target: string, ifAbsent: boolean): Promise<'published' | 'exists'> {
    for (let attempt = 1; ; attempt++) {
      try {
        await mkdir(dirname(target), { recursive: true });
      } catch (error) {
        // A delete pruning this folder at the same moment makes mkdir itself fail with ENOENT: try again.
        if (codeOf(error) === 'ENOENT' && attempt < PUBLISH_ATTEMPTS) continue;
        throw error;
      }
      try {
        if (!ifAbsent) {
          await rename(tempPath, target);
          return 'published';
        }
        await link(tempPath, target);
        // Published; a temp link left by a failed unlink is only a name for the same bytes, which sweepPartial drops.
        await unlink(tempPath).catch(() => undefined);
        return 'published';
      } catch (error) {
        const code = codeOf(error);
        if (ifAbsent && code === 'EEXIST') {
          await rm(tempPath, { force: true });
          if (await isFolder(target)) throw new Error(`cannot write object ${JSON.stringify(key)} in ${this.location}: a folder of that name holds other objects`);
          return 'exists';
        }
        if (ifAbsent && NO_HARD_LINKS.has(code)) {
          await rm(tempPath, { force: true });
          throw Object.assign(
            new Error(`cannot write object ${JSON.stringify(key)} in ${this.location} if absent: link() failed with ${code}; the volume must support hard links`),
            { code, cause: error },
          );
        }
        if (code === 'ENOENT' && !(await pathExists(tempPath))) throw partialWriteGone(key, this.location);
        if (code !== 'ENOENT' || attempt >= PUBLISH_ATTEMPTS) throw error;
      }
    }
  }

  /** Opens the object and checks `version` and `range` against the open file; null when there is no such object. */
  private async openObject(key: string, range: ByteRange | undefined, version: string | undefined): Promise<({ handle: FileHandle } & ByteRange) | null> {
    const path = this.pathOf(key);
    if (range) assertByteRange(key, range);
    let handle: FileHandle;
    try {
      handle = await open(path, OPEN_FLAGS);
    } catch (error) {
      if (isMissing(error)) return missingObject(key, version);
      throw error;
    }
    let stats: BigIntStats;
    try {
      // fstat of the open handle: a rename over the key after this point cannot change what is read.
      stats = await handle.stat({ bigint: true });
    } catch (error) {
      await handle.close();
      throw error;
    }
    const actual = stats.isFile() ? versionOf(stats) : null;
    const notTheObject = actual === null || (version !== undefined && actual !== version);
    const size = Number(stats.size);
    if (!notTheObject && (range?.end ?? 0) <= size) return { handle, start: range?.start ?? 0, end: range?.end ?? size };
    await handle.close();
    if (!notTheObject) throw new RangeError(`byte range [${range!.start}, ${range!.end}) of object ${JSON.stringify(key)} in ${this.location} ends past its ${size} bytes`);
    if (version === undefined) return null;
    throw new ObjectChangedError(key, version, actual);
  }

  /** Objects under `folder` in key order: a folder `a` sorts as `a/`, so `a-b` comes before `a/x` and `a0` after. */
  private async *walk(folder: string, keyPrefix: string): AsyncGenerator<ObjectInfo> {
    const entries = (await readFolder(folder))
      .filter((entry) => (entry.isFile() || entry.isDirectory()) && isObjectKey(entry.name))
      .map((entry) => ({ name: entry.name, folder: entry.isDirectory(), order: entry.isDirectory() ? `${entry.name}/` : entry.name }))
      .sort((a, b) => byCodeUnits(a.order, b.order));
    for (let i = 0; i < entries.length; ) {
      const entry = entries[i]!;
      if (entry.folder) {
        yield* this.walk(join(folder, entry.name), `${keyPrefix}${entry.name}/`);
        i++;
        continue;
      }
      const files: string[] = [];
      for (; i < entries.length && !entries[i]!.folder && files.length < FOLDER_BATCH; i++) files.push(entries[i]!.name);
      const infos = await Promise.all(files.map((name) => infoAt(join(folder, name), keyPrefix + name)));
      for (const info of infos) if (info) yield info;
    }
  }

  /** Removes folders left empty, from `folder` up to (not including) the root; stops at the first that is not empty. */
  private async prune(folder: string): Promise<void> {
    for (let current = folder; current.startsWith(this.root + sep); current = dirname(current)) {
      try {
        await rmdir(current);
      } catch {
        return;
      }
    }
  }

  private pathOf(key: string, options: { prefix?: boolean } = {}): string {
    assertObjectKey(key, options);
    const path = join(this.root, options.prefix ? key.slice(0, -1) : key);
    // assertObjectKey already rules out `..`, empty and absolute segments; this holds even if it ever changes.
    if (!path.startsWith(this.root.endsWith(sep) ? this.root : this.root + sep)) {
      throw new InvalidObjectKeyError(`object key ${JSON.stringify(key)} names a place outside ${this.location}`);
    }
    return path;
  }
}

/**
 * A temp file being filled through a WriteStream: `write` resolves at once while the stream buffers
 * less than its high-water mark and waits for 'drain' beyond it. The writer owns the file handle,
 * not the stream, because commit still needs it after the stream finished (fsync).
 */
class FsObjectWriter implements ObjectWriter {
  private written = 0;
  private state: 'open' | 'committing' | 'committed' | 'aborted' | 'failed' = 'open';
  private failure: Error | undefined;
  private committing: Promise<ObjectInfo | 'exists'> | undefined;
  private discarding: Promise<void> | undefined;
  private draining: Promise<unknown> | undefined;
  private readonly stream: WriteStream;

  constructor(
    readonly key: string,
    private readonly location: string,
    private readonly tempPath: string,
    private readonly handle: FileHandle,
    private readonly publish: () => Promise<'published' | 'exists'>,
  ) {
    this.stream = handle.createWriteStream({ autoClose: false });
    // An error of a buffered write arrives later: it fails the next write or the commit.
    this.stream.on('error', (error) => (this.failure ??= error));
  }

  get bytes(): number {
    return this.written;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.state === 'failed' && this.failure) throw this.failure;
    if (this.state !== 'open') throw this.closedError();
    if (this.failure) await this.fail(this.failure);
    this.written += chunk.byteLength;
    if (this.stream.write(chunk)) return;
    try {
      await this.drained();
    } catch (error) {
      await this.fail(error);
    }
  }

  commit(): Promise<ObjectInfo | 'exists'> {
    if (this.state !== 'open') return Promise.reject(this.closedError());
    this.state = 'committing';
    this.committing = this.finish().then(
      (outcome) => {
        this.state = 'committed';
        return outcome;
      },
      (error: unknown) => this.fail(error),
    );
    return this.committing;
  }

  async abort(): Promise<void> {
    if (this.committing) {
      // After a commit there is nothing to drop; a failed commit already dropped its temp file.
      await this.committing.catch(() => undefined);
      return;
    }
    if (this.state === 'open') this.state = 'aborted';
    await this.discard();
  }

  /** One wait for 'drain' shared by every write that did not await the previous one. */
  private drained(): Promise<unknown> {
    this.draining ??= once(this.stream, 'drain').finally(() => (this.draining = undefined));
    return this.draining;
  }

  private async finish(): Promise<ObjectInfo | 'exists'> {
    if (this.failure) throw this.failure;
    this.stream.end();
    await finished(this.stream);
    await this.handle.datasync();
    this.stream.destroy();
    await this.handle.close();
    // Stat by path after close: on NFS the attributes are final only once the file is closed. Nobody else touches the temp file.
    const stats = await lstat(this.tempPath, { bigint: true }).catch((error: unknown) => {
      throw codeOf(error) === 'ENOENT' ? partialWriteGone(this.key, this.location) : error;
    });
    return (await this.publish()) === 'exists' ? 'exists' : infoOf(this.key, stats);
  }

  private async fail(error: unknown): Promise<never> {
    this.state = 'failed';
    await this.discard();
    throw error;
  }

  private discard(): Promise<void> {
    this.discarding ??= (async () => {
      this.stream.destroy();
      await this.handle.close().catch(() => undefined);
      await rm(this.tempPath, { force: true });
    })();
    return this.discarding;
  }

  private closedError(): Error {
    return new Error(`the writer of object ${JSON.stringify(this.key)} is ${this.state}: it takes no more writes or commits`);
  }
}

/** Key order as a bucket lists it (byte order; keys are ASCII), not the locale's. */
function byCodeUnits(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function versionOf(stats: BigIntStats): string {
  return `${stats.ino}-${stats.size}-${stats.mtimeNs}`;
}

function infoOf(key: string, stats: BigIntStats): ObjectInfo {
  return { key, size: Number(stats.size), version: versionOf(stats), modifiedAt: Number(stats.mtimeMs) };
}

async function infoAt(path: string, key: string): Promise<ObjectInfo | null> {
  try {
    const stats = await lstat(path, { bigint: true });
    return stats.isFile() ? infoOf(key, stats) : null;
  } catch (error) {
    if (isMissing(error)) return null;
    throw error;
  }
}

function partialWriteGone(key: string, location: string): Error {
  return new Error(`the partial write of object ${JSON.stringify(key)} in ${location} was removed before commit (sweepPartial ran while it was idle?)`);
}

/** Removes a folder tree; counts the objects (regular files with key paths) among what it removed. */
async function removeTree(folder: string, holdsObjects = true): Promise<number> {
  let removed = 0;
  const entries = await readFolder(folder);
  for (const entry of entries) {
    if (entry.isDirectory()) removed += await removeTree(join(folder, entry.name), holdsObjects && isObjectKey(entry.name));
  }
  const files = entries.filter((entry) => !entry.isDirectory());
  for (let i = 0; i < files.length; i += FOLDER_BATCH) {
    const batch = files.slice(i, i + FOLDER_BATCH);
    const unlinked = await Promise.all(batch.map((entry) => unlinkCounted(join(folder, entry.name))));
    batch.forEach((entry, j) => {
      if (unlinked[j] && holdsObjects && entry.isFile() && isObjectKey(entry.name)) removed++;
    });
  }
  // ENOTEMPTY: a writer committed into the folder meanwhile; its object stays.
  await rmdir(folder).catch(() => undefined);
  return removed;
}

async function readFolder(folder: string): Promise<Dirent[]> {
  try {
    return await readdir(folder, { withFileTypes: true });
  } catch (error) {
    if (isMissing(error)) return [];
    throw error;
  }
}

/** True when this call removed the file, false when it was already gone. */
async function unlinkCounted(path: string): Promise<boolean> {
  try {
    await unlink(path);
    return true;
  } catch (error) {
    if (isMissing(error)) return false;
    throw error;
  }
}

async function isFolder(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => null))?.isDirectory() === true;
}

async function pathExists(path: string): Promise<boolean> {
  return (await lstat(path).catch(() => null)) !== null;
}

function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** ENOTDIR: a parent of the key is an object; ELOOP: the key is a link (not followed). Neither is an object. */
function isMissing(error: unknown): boolean {
  const code = codeOf(error);
  return code === 'ENOENT' || code === 'ENOTDIR' || code === 'ELOOP';
}
