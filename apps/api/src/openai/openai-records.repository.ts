import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { REDIS } from '../redis/redis.tokens.js';

/** A file of the OpenAI-compatible Files API: an upload, or a batch's output or error file. */
export interface FileRecord {
  id: string;
  tenant: string;
  bytes: number;
  /** Unix seconds. */
  createdAt: number;
  filename: string;
  purpose: 'batch' | 'batch_output';
}

export type BatchStatus = 'validating' | 'failed' | 'in_progress' | 'finalizing' | 'completed' | 'expired' | 'cancelling' | 'cancelled';

export interface BatchLineError {
  code: string;
  message: string;
  param: string | null;
  line: number | null;
}

/** A batch as stored; its live status while it runs comes from its job (see BatchesService). */
export interface BatchRecord {
  id: string;
  tenant: string;
  endpoint: string;
  inputFileId: string;
  completionWindow: string;
  metadata: Record<string, string> | null;
  /** The shardwise job; null when validation failed. */
  jobId: string | null;
  model: string | null;
  requestTotal: number;
  itemTotal: number;
  /** Stored once the batch is terminal (failed, or finalized); null while the job decides. */
  finalStatus: BatchStatus | null;
  errors: BatchLineError[] | null;
  outputFileId: string | null;
  errorFileId: string | null;
  completed: number;
  failed: number;
  /** Unix seconds. */
  createdAt: number;
  inProgressAt: number | null;
  expiresAt: number;
  finalizingAt: number | null;
  completedAt: number | null;
  failedAt: number | null;
  expiredAt: number | null;
  cancellingAt: number | null;
  cancelledAt: number | null;
}

/**
 * File and batch records in Redis, one hash each (every field JSON-encoded, so partial updates are
 * single HSETs), listed newest first from one sorted set per tenant.
 */
@Injectable()
export class OpenAIRecordsRepository {
  private readonly prefix: string;

  constructor(@Inject(REDIS) private readonly redis: Redis, @Inject(API_ENV) env: ApiEnv) {
    this.prefix = `${env.REDIS_PREFIX}:oai`;
  }

  // --- files ---

  async createFile(file: FileRecord): Promise<void> {
    await this.redis
      .multi()
      .hset(this.fileKey(file.id), encode(file))
      .zadd(this.filesKey(file.tenant), Date.now(), file.id)
      .exec();
  }

  async getFile(id: string, tenant: string): Promise<FileRecord | null> {
    const file = decode<FileRecord>(await this.redis.hgetall(this.fileKey(id)));
    return file && file.tenant === tenant ? file : null;
  }

  async deleteFile(file: FileRecord): Promise<void> {
    await this.redis.multi().unlink(this.fileKey(file.id)).zrem(this.filesKey(file.tenant), file.id).exec();
  }

  async listFiles(tenant: string, page: PageQuery, purpose?: string): Promise<{ items: FileRecord[]; hasMore: boolean }> {
    return this.page(this.filesKey(tenant), page, (id) => this.getFile(id, tenant), purpose === undefined ? undefined : (f) => f.purpose === purpose);
  }

  // --- batches ---

  async createBatch(batch: BatchRecord): Promise<void> {
    await this.redis
      .multi()
      .hset(this.batchKey(batch.id), encode(batch))
      .zadd(this.batchesKey(batch.tenant), Date.now(), batch.id)
      .exec();
  }

  async getBatch(id: string, tenant: string): Promise<BatchRecord | null> {
    const batch = decode<BatchRecord>(await this.redis.hgetall(this.batchKey(id)));
    return batch && batch.tenant === tenant ? batch : null;
  }

  async updateBatch(id: string, fields: Partial<BatchRecord>): Promise<void> {
    await this.redis.hset(this.batchKey(id), encode(fields));
  }

  async listBatches(tenant: string, page: PageQuery): Promise<{ items: BatchRecord[]; hasMore: boolean }> {
    return this.page(this.batchesKey(tenant), page, (id) => this.getBatch(id, tenant));
  }

  // --- a lock per batch, so one API replica finalizes it ---

  async tryLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.lockKey(name), token, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Extends a lock still held by `token`; false when it was lost. */
  async renewLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    const script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end return 0";
    return (await this.redis.eval(script, 1, this.lockKey(name), token, ttlMs)) === 1;
  }

  async unlock(name: string, token: string): Promise<void> {
    const script = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0";
    await this.redis.eval(script, 1, this.lockKey(name), token);
  }

  /**
   * A cursor page, newest first (or oldest first with order 'asc'), starting after the id `after`.
   * With a filter, pages are read on until `limit` items matched or the set ends.
   */
  private async page<T extends { id: string }>(
    key: string,
    { limit, after, order }: PageQuery,
    load: (id: string) => Promise<T | null>,
    keep?: (item: T) => boolean,
  ): Promise<{ items: T[]; hasMore: boolean }> {
    let start = 0;
    if (after !== undefined) {
      const rank = order === 'asc' ? await this.redis.zrank(key, after) : await this.redis.zrevrank(key, after);
      if (rank === null) return { items: [], hasMore: false };
      start = rank + 1;
    }
    const items: T[] = [];
    const chunk = Math.max(limit + 1, 50);
    for (;;) {
      const ids = order === 'asc' ? await this.redis.zrange(key, String(start), String(start + chunk - 1)) : await this.redis.zrevrange(key, start, start + chunk - 1);
      for (const id of ids) {
        const item = await load(id);
        if (!item || (keep && !keep(item))) continue;
        if (items.length === limit) return { items, hasMore: true };
        items.push(item);
      }
      if (ids.length < chunk) return { items, hasMore: false };
      start += chunk;
    }
  }

  private fileKey(id: string): string {
    return `${this.prefix}:file:${id}`;
  }
  private filesKey(tenant: string): string {
    return `${this.prefix}:files:${tenant}`;
  }
  private batchKey(id: string): string {
    return `${this.prefix}:batch:${id}`;
  }
  private batchesKey(tenant: string): string {
    return `${this.prefix}:batches:${tenant}`;
  }
  private lockKey(name: string): string {
    return `${this.prefix}:lock:${name}`;
  }
}

export interface PageQuery {
  limit: number;
  after?: string;
  order?: 'asc' | 'desc';
}

function encode(record: object): Record<string, string> {
  const hash: Record<string, string> = {};
  for (const [field, value] of Object.entries(record)) if (value !== undefined) hash[field] = JSON.stringify(value);
  return hash;
}

function decode<T>(hash: Record<string, string>): T | null {
  if (!hash.id) return null;
  const record: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(hash)) record[field] = JSON.parse(value);
  return record as T;
}
