import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConfigError } from '../errors/config.error.js';
import { DelegatingObjectStore } from './delegating-object-store.js';
import type { ByteRange, ObjectInfo, ObjectStore, ObjectWriter, ReadOptions, WriteOptions } from './object-store.interface.js';

/** TEST ONLY: the faults a FaultyObjectStore injects. Counts are kept per key. */
export interface ObjectStoreFaults {
  /** The first N commits or puts of each key fail with ENOSPC after part of the object was written. @defaultValue 0 */
  failWrites?: number;
  /** The first N reads or streams of each key fail with EIO. @defaultValue 0 */
  failReads?: number;
  /** Every read or stream fails with EIO: a permanent fault. @defaultValue false */
  failReadsAlways?: boolean;
  /** Every read or stream waits this many ms first (before any read fault). @defaultValue 0 */
  readDelayMs?: number;
  /** Only keys matching it get faults. @defaultValue every key */
  keyPattern?: RegExp;
}

/** An injected fault, with the `code` of the system error it stands for so that retry logic treats both alike. */
export class InjectedFaultError extends Error {
  override readonly name = 'InjectedFaultError';
  readonly errno: number;
  constructor(
    readonly code: 'ENOSPC' | 'EIO',
    message: string,
  ) {
    super(message);
    this.errno = code === 'ENOSPC' ? -28 : -5;
  }
}

/**
 * TEST ONLY: a store whose writes and reads fail on purpose, wrapping a real one, so that tests and
 * chaos runs (SHARDWISE_FAULT_STORE_*) exercise retries, full disks and dead volumes. stat, list and
 * deletes pass through untouched. A stream fault rejects the stream() call itself.
 */
export class FaultyObjectStore extends DelegatingObjectStore {
  private readonly keyPattern: RegExp | undefined;
  private readonly writes = new Map<string, number>();
  private readonly reads = new Map<string, number>();

  constructor(
    inner: ObjectStore,
    private readonly faults: ObjectStoreFaults,
  ) {
    super(inner);
    // Without g and y, test() keeps no state between keys.
    this.keyPattern = faults.keyPattern && new RegExp(faults.keyPattern.source, faults.keyPattern.flags.replace(/[gy]/g, ''));
  }

  override get location(): string {
    return `${this.inner.location} (with injected faults)`;
  }

  override async createWriter(key: string, options?: WriteOptions): Promise<ObjectWriter> {
    return new FaultyObjectWriter(await this.inner.createWriter(key, options), () => this.writeFault(key));
  }

  override async put(key: string, body: Uint8Array, options?: WriteOptions): Promise<'written' | 'exists'> {
    const fault = this.writeFault(key);
    if (!fault) return this.inner.put(key, body, options);
    const writer = await this.inner.createWriter(key, options);
    try {
      await writer.write(body.subarray(0, body.byteLength >> 1));
    } finally {
      await writer.abort();
    }
    throw fault;
  }

  override async read(key: string, range?: ByteRange, options?: ReadOptions): Promise<Buffer | null> {
    await this.beforeRead(key);
    return this.inner.read(key, range, options);
  }

  override async stream(key: string, range?: ByteRange, options?: ReadOptions): Promise<Readable | null> {
    await this.beforeRead(key);
    return this.inner.stream(key, range, options);
  }

  private writeFault(key: string): InjectedFaultError | undefined {
    const limit = this.faults.failWrites ?? 0;
    if (limit <= 0 || !this.affects(key)) return undefined;
    const attempt = countAttempt(this.writes, key);
    if (attempt > limit) return undefined;
    return new InjectedFaultError('ENOSPC', `ENOSPC: no space left on device, write ${JSON.stringify(key)} (fault injected by FaultyObjectStore: write ${attempt} of ${limit})`);
  }

  private async beforeRead(key: string): Promise<void> {
    if (!this.affects(key)) return;
    if ((this.faults.readDelayMs ?? 0) > 0) await sleep(this.faults.readDelayMs);
    const fault = (which: string) => new InjectedFaultError('EIO', `EIO: i/o error, read ${JSON.stringify(key)} (fault injected by FaultyObjectStore: ${which})`);
    if (this.faults.failReadsAlways) throw fault('every read fails');
    const limit = this.faults.failReads ?? 0;
    if (limit <= 0) return;
    const attempt = countAttempt(this.reads, key);
    if (attempt <= limit) throw fault(`read ${attempt} of ${limit}`);
  }

  private affects(key: string): boolean {
    return this.keyPattern === undefined || this.keyPattern.test(key);
  }
}

/** Hands chunks to the real writer; a faulty commit drops them there, so nothing is published. */
class FaultyObjectWriter implements ObjectWriter {
  private failure: InjectedFaultError | undefined;

  constructor(
    private readonly inner: ObjectWriter,
    private readonly writeFault: () => InjectedFaultError | undefined,
  ) {}

  get key(): string {
    return this.inner.key;
  }

  get bytes(): number {
    return this.inner.bytes;
  }

  write(chunk: Uint8Array): Promise<void> {
    return this.failure ? Promise.reject(this.failure) : this.inner.write(chunk);
  }

  async commit(): Promise<ObjectInfo | 'exists'> {
    if (this.failure) throw this.failure;
    const fault = this.writeFault();
    if (!fault) return this.inner.commit();
    this.failure = fault;
    await this.inner.abort();
    throw fault;
  }

  abort(): Promise<void> {
    return this.inner.abort();
  }
}

function countAttempt(counts: Map<string, number>, key: string): number {
  const attempt = (counts.get(key) ?? 0) + 1;
  counts.set(key, attempt);
  return attempt;
}

const FAULT_VARIABLES = ['SHARDWISE_FAULT_STORE_WRITE', 'SHARDWISE_FAULT_STORE_READ', 'SHARDWISE_FAULT_STORE_READ_DELAY_MS'] as const;

/**
 * The faults the SHARDWISE_FAULT_STORE_* variables ask for, or undefined when none is (unset, empty or 0).
 * Throws a ConfigError naming each bad variable, at boot rather than at the first read.
 */
export function faultOptionsFromEnv(env: Record<string, string | undefined>): ObjectStoreFaults | undefined {
  const problems: string[] = [];
  const text = (name: string): string | undefined => env[name]?.trim() || undefined;
  const whole = (name: string, value: string | undefined, hint: string): number | undefined => {
    if (value === undefined) return undefined;
    if (/^\d{1,9}$/.test(value)) return Number(value);
    problems.push(`${name}=${JSON.stringify(env[name])}: ${hint}`);
    return undefined;
  };

  const write = text('SHARDWISE_FAULT_STORE_WRITE');
  const failWrites = whole('SHARDWISE_FAULT_STORE_WRITE', write, 'must be a whole number of failing writes per key');
  const read = text('SHARDWISE_FAULT_STORE_READ');
  const failReadsAlways = read?.toLowerCase() === 'always';
  const failReads = failReadsAlways ? undefined : whole('SHARDWISE_FAULT_STORE_READ', read, 'must be a whole number of failing reads per key, or "always"');
  const delay = text('SHARDWISE_FAULT_STORE_READ_DELAY_MS');
  const readDelayMs = whole('SHARDWISE_FAULT_STORE_READ_DELAY_MS', delay, 'must be a whole number of milliseconds');
  const keys = text('SHARDWISE_FAULT_STORE_KEYS');
  let keyPattern: RegExp | undefined;
  if (keys !== undefined) {
    try {
      keyPattern = new RegExp(keys);
    } catch (error) {
      problems.push(`SHARDWISE_FAULT_STORE_KEYS=${JSON.stringify(env.SHARDWISE_FAULT_STORE_KEYS)}: not a regular expression (${(error as Error).message})`);
    }
    if (FAULT_VARIABLES.every((name) => text(name) === undefined)) {
      problems.push(`SHARDWISE_FAULT_STORE_KEYS is set but no fault is: set ${FAULT_VARIABLES.join(', ')} too, or unset it`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const faults: ObjectStoreFaults = {};
  if (failWrites) faults.failWrites = failWrites;
  if (failReads) faults.failReads = failReads;
  if (failReadsAlways) faults.failReadsAlways = true;
  if (readDelayMs) faults.readDelayMs = readDelayMs;
  if (Object.keys(faults).length === 0) return undefined;
  if (keyPattern) faults.keyPattern = keyPattern;
  return faults;
}
