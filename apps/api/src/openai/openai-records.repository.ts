import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { releaseLock, renewLock } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { REDIS } from '../redis/redis.tokens.js';
import { decodeRecord, encodeRecord, sortedSetPage, type PageQuery } from '../redis/sorted-set-page.js';

export type { PageQuery };

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
  /** Retention of the output and error files (seconds from their creation); null: RETENTION_SECONDS. Absent in older records. */
  outputExpiresAfter?: number | null;
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
  /** Tokens of the requests' texts that succeeded, from the job when the batch was finalized (absent in older records). */
  inputTokens?: number;
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
 * Batch records in Redis, one hash each (every field JSON-encoded, so partial updates are
 * single HSETs), listed newest first from one sorted set per tenant.
 */
@Injectable()
export class OpenAIRecordsRepository {
  private readonly prefix: string;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(API_ENV) env: ApiEnv,
  ) {
    this.prefix = `${env.REDIS_PREFIX}:oai`;
  }

  // --- batches ---

  async createBatch(batch: BatchRecord): Promise<void> {
    await this.redis.multi().hset(this.batchKey(batch.id), encodeRecord(batch)).zadd(this.batchesKey(batch.tenant), Date.now(), batch.id).exec();
  }

  /** Removes a batch record and its place in the tenant's list (a creation refused with 503). */
  async deleteBatch(id: string, tenant: string): Promise<void> {
    await this.redis.multi().unlink(this.batchKey(id)).zrem(this.batchesKey(tenant), id).zrem(this.expiryKey(), id).exec();
  }

  async getBatch(id: string, tenant: string): Promise<BatchRecord | null> {
    const batch = decodeRecord<BatchRecord>(await this.redis.hgetall(this.batchKey(id)));
    return batch && batch.tenant === tenant ? batch : null;
  }

  /** True when the batch is final (or gone): it no longer reads its input file. */
  async isSettled(id: string): Promise<boolean> {
    const status = await this.redis.hget(this.batchKey(id), 'finalStatus');
    return status === null || JSON.parse(status) !== null;
  }

  async updateBatch(id: string, fields: Partial<BatchRecord>): Promise<void> {
    await this.redis.hset(this.batchKey(id), encodeRecord(fields));
  }

  /** Retention: the batch record is deleted at `at` (unix seconds). */
  async expireBatchAt(id: string, at: number): Promise<void> {
    await this.redis.zadd(this.expiryKey(), at, id);
  }

  /** Deletes the batch records whose retention ended by `nowSeconds`; returns how many. */
  async deleteExpiredBatches(nowSeconds: number, limit = 1000): Promise<number> {
    const due = await this.redis.zrangebyscore(this.expiryKey(), '-inf', nowSeconds, 'LIMIT', 0, limit);
    for (const id of due) {
      const tenant = await this.redis.hget(this.batchKey(id), 'tenant');
      const multi = this.redis.multi().unlink(this.batchKey(id)).zrem(this.expiryKey(), id);
      if (tenant !== null) multi.zrem(this.batchesKey(JSON.parse(tenant) as string), id);
      await multi.exec();
    }
    return due.length;
  }

  async listBatches(tenant: string, page: PageQuery): Promise<{ items: BatchRecord[]; hasMore: boolean }> {
    return sortedSetPage(this.redis, this.batchesKey(tenant), page, (id) => this.getBatch(id, tenant));
  }

  // --- a lock per batch, so one API replica finalizes it ---

  async tryLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return (await this.redis.set(this.lockKey(name), token, 'PX', ttlMs, 'NX')) === 'OK';
  }

  /** Extends a lock still held by `token`; false when it was lost. */
  async renewLock(name: string, token: string, ttlMs: number): Promise<boolean> {
    return renewLock(this.redis, this.lockKey(name), token, ttlMs);
  }

  async unlock(name: string, token: string): Promise<void> {
    await releaseLock(this.redis, this.lockKey(name), token);
  }

  private batchKey(id: string): string {
    return `${this.prefix}:batch:${id}`;
  }
  private expiryKey(): string {
    return `${this.prefix}:batches:expiry`;
  }
  private batchesKey(tenant: string): string {
    return `${this.prefix}:batches:${tenant}`;
  }
  private lockKey(name: string): string {
    return `${this.prefix}:lock:${name}`;
  }
}
