import { randomBytes } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { fileKey, OBJECT_STORE, type ObjectStore } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { REDIS } from '../redis/redis.tokens.js';
import { decodeRecord, encodeRecord, sortedSetPage, type PageQuery } from '../redis/sorted-set-page.js';

/** A file of the OpenAI-compatible Files API: an upload (a batch input, a corpus), or a batch's output or error file. */
export interface FileRecord {
  id: string;
  tenant: string;
  bytes: number;
  /** Unix seconds. */
  createdAt: number;
  filename: string;
  purpose: 'batch' | 'batch_output' | 'user_data';
  /** Unix seconds when the file is deleted (retention); absent in records older than the field. */
  expiresAt?: number | null;
}

const FILE_ID = /^file-[A-Za-z0-9_-]{24}$/;
export const newFileId = (): string => `file-${randomBytes(18).toString('base64url')}`;
export const isFileId = (id: string): boolean => FILE_ID.test(id);

/** Who uses a file's bytes: a job run on it by reference, or a batch until it is finalized. */
export type FileUser = `job:${string}` | `batch:${string}`;
/** True when that user no longer needs the file (finished, or gone). */
export type FileUserCheck = (id: string) => Promise<boolean>;

/**
 * File records in Redis (one hash each, listed newest first per tenant) and the bytes in the object
 * store under `files/<id>`. Jobs and batches run on a file's bytes directly, never on a copy, so a
 * file in use is pinned: deleting it removes the record at once (the file is gone for its tenant)
 * and its bytes once no unfinished job or batch uses them, right away or at the janitor's next sweep.
 */
@Injectable()
export class FileCatalog {
  private readonly logger = new Logger(FileCatalog.name);
  private readonly prefix: string;
  private readonly checks = new Map<string, FileUserCheck>();

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(API_ENV) env: ApiEnv,
    @Inject(OBJECT_STORE) private readonly objects: ObjectStore,
  ) {
    this.prefix = `${env.REDIS_PREFIX}:oai`;
  }

  /** How to tell that a user of kind `job` or `batch` is done with a file; registered by the module that owns that kind. */
  registerUserCheck(kind: 'job' | 'batch', check: FileUserCheck): void {
    this.checks.set(kind, check);
  }

  async create(file: FileRecord): Promise<void> {
    const multi = this.redis.multi().hset(this.recordKey(file.id), encodeRecord(file)).zadd(this.listKey(file.tenant), Date.now(), file.id);
    if (file.expiresAt != null) multi.zadd(this.expiryKey(), file.expiresAt, file.id);
    await multi.exec();
  }

  async get(id: string, tenant: string): Promise<FileRecord | null> {
    if (!isFileId(id)) return null;
    const file = decodeRecord<FileRecord>(await this.redis.hgetall(this.recordKey(id)));
    return file && file.tenant === tenant ? file : null;
  }

  async list(tenant: string, page: PageQuery, purpose?: string): Promise<{ items: FileRecord[]; hasMore: boolean }> {
    return sortedSetPage(this.redis, this.listKey(tenant), page, (id) => this.get(id, tenant), purpose === undefined ? undefined : (f) => f.purpose === purpose);
  }

  /**
   * Pins the file for `user`, then checks that it still exists for `tenant`: with this order a
   * concurrent delete either sees the pin (and keeps the bytes) or the pin sees the record gone.
   * Returns the record, or null (and no pin) when there is no such file.
   */
  async pin(id: string, tenant: string, user: FileUser): Promise<FileRecord | null> {
    if (!isFileId(id)) return null;
    await this.redis.sadd(this.usersKey(id), user);
    const file = await this.get(id, tenant);
    if (file === null) await this.unpin(id, user);
    return file;
  }

  async unpin(id: string, user: FileUser): Promise<void> {
    await this.redis.srem(this.usersKey(id), user);
  }

  /** Removes the record now; the bytes now too unless a user still needs them (then `sweepTrash` does). */
  async delete(file: FileRecord): Promise<void> {
    await this.redis.multi().unlink(this.recordKey(file.id)).zrem(this.listKey(file.tenant), file.id).zrem(this.expiryKey(), file.id).sadd(this.trashKey(), file.id).exec();
    await this.collect(file.id);
  }

  /** Deletes files whose expires_at has passed (as DELETE would: bytes kept while a job or batch reads them); returns how many. */
  async sweepExpired(nowSeconds: number, limit = 1000): Promise<number> {
    let deleted = 0;
    for (const id of await this.redis.zrangebyscore(this.expiryKey(), '-inf', nowSeconds, 'LIMIT', 0, limit)) {
      const file = decodeRecord<FileRecord>(await this.redis.hgetall(this.recordKey(id)));
      if (file === null) await this.redis.zrem(this.expiryKey(), id);
      else await this.delete(file);
      deleted++;
    }
    return deleted;
  }

  /** Deletes the bytes of deleted files that no unfinished job or batch uses any more; returns how many. */
  async sweepTrash(): Promise<number> {
    let removed = 0;
    for (const id of await this.redis.smembers(this.trashKey())) {
      try {
        if (await this.collect(id)) removed++;
      } catch (error) {
        this.logger.warn(`could not collect deleted file ${id}: ${(error as Error).message}`);
      }
    }
    return removed;
  }

  /** Drops finished users of a deleted file; deletes its bytes when none is left. */
  private async collect(id: string): Promise<boolean> {
    for (const user of await this.redis.smembers(this.usersKey(id))) {
      const [kind, userId] = [user.slice(0, user.indexOf(':')), user.slice(user.indexOf(':') + 1)];
      const check = this.checks.get(kind);
      if (check !== undefined && (await check(userId))) await this.redis.srem(this.usersKey(id), user);
    }
    if ((await this.redis.scard(this.usersKey(id))) > 0) return false;
    await this.objects.delete(fileKey(id));
    await this.redis.multi().srem(this.trashKey(), id).unlink(this.usersKey(id)).exec();
    return true;
  }

  private recordKey(id: string): string {
    return `${this.prefix}:file:${id}`;
  }
  private listKey(tenant: string): string {
    return `${this.prefix}:files:${tenant}`;
  }
  private usersKey(id: string): string {
    return `${this.prefix}:file:${id}:users`;
  }
  /** Files by expires_at (sorted set, unix seconds). */
  private expiryKey(): string {
    return `${this.prefix}:files:expiry`;
  }
  /** Deleted files whose bytes may still be in use. */
  private trashKey(): string {
    return `${this.prefix}:files:trash`;
  }
}
