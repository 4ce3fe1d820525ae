import { z } from 'zod';
import { payloadOptionsSchema, TASK_MODULES, TASK_NAMES, type OptionsHolder, type TaskName } from '#models';
import type { InputFormat } from '../corpus/input-formats.js';

/**
 * Where a shard's items are: a byte range of whole lines of an object in the object store. Workers
 * read the range and parse it; the texts never travel through Redis.
 */
export const shardInputSchema = z.object({
  /** Object key (ObjectStore), e.g. `jobs/<jobId>/input.ndjson` or `files/<fileId>`. */
  key: z.string().min(1),
  /** ObjectInfo.version when the job was accepted: a replaced or deleted object fails the shard instead of feeding it other texts. */
  version: z.string().min(1),
  format: z.enum(['ndjson', 'openai-batch'] satisfies InputFormat[]),
  /** Bytes `[start, end)` of the object: the lines holding the shard's items. */
  start: z.number().int().min(0),
  end: z.number().int().min(0),
  /** Items of the range's first line that belong to the shard before (a batch request split across shards). */
  skip: z.number().int().min(0),
});

/**
 * A shard's options: every task option's field (each module's option table, payloadOptionsSchema), all
 * optional, so shards queued before an option existed still parse; plus `itemTokens`, which only jobs have.
 */
export function shardOptionsSchema<const Modules extends readonly OptionsHolder[]>(modules: Modules) {
  return payloadOptionsSchema(modules).extend({ itemTokens: z.boolean().optional() });
}

/**
 * One BullMQ job = one shard: a reference to a bounded, contiguous slice of a job's inputs (see
 * SHARD_MAX_TEXTS and SHARD_MAX_BYTES), a few hundred bytes whatever the texts. New fields must be
 * optional so shards already queued during a rolling deploy still parse; `v` changes when they can't.
 */
export const shardPayloadSchema = z.object({
  v: z.literal(2),
  jobId: z.string(),
  shard: z.number().int().min(0),
  /** Index of the first item of this shard in the job's input order. */
  start: z.number().int().min(0),
  /** Items in the shard. */
  count: z.number().int().min(0),
  task: z.enum(TASK_NAMES as [TaskName, ...TaskName[]]),
  modelId: z.string(),
  options: shardOptionsSchema(TASK_MODULES),
  input: shardInputSchema,
  /** Ingest estimate of the shard's tokens (ops/token-estimate.ts); it leaves the backlog when the shard is counted. */
  estTokens: z.number().int().min(0).optional(),
  /**
   * Present when the job dedups: the worker computes each distinct text of the shard once. `refs` is the byte range
   * of `jobs/<jobId>/duplicates.bin` that lists the shard's items whose text first appeared in an earlier shard
   * (see DuplicateRefs); absent when there are none.
   */
  dedup: z.object({ refs: z.object({ start: z.number().int().min(0), end: z.number().int().min(0) }).optional() }).optional(),
  /** The job's tenant, for the worker's usage metrics (absent in shards queued before the field: counted as `other`). */
  tenant: z.string().optional(),
});

export type ShardPayload = z.infer<typeof shardPayloadSchema>;
export type ShardInput = z.infer<typeof shardInputSchema>;

/** What a worker returns for a shard; kept small since BullMQ stores it in Redis. */
export interface ShardOutcome {
  succeeded: number;
  failed: number;
  truncated: number;
  tokens: number;
  /** Items whose result was copied from an identical text's instead of computed (dedup); absent means 0. */
  deduplicated?: number;
}

/** BullMQ job ids may not contain ':'; a deterministic id makes re-enqueueing a shard a no-op. */
export const shardJobId = (jobId: string, shard: number): string => `${jobId}-${shard}`;
