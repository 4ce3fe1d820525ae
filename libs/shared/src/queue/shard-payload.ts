import { z } from 'zod';

/**
 * One BullMQ job = one shard: a bounded, contiguous slice of a job's inputs (see SHARD_MAX_TEXTS and
 * SHARD_MAX_BYTES). New fields must be optional so shards already queued during a rolling deploy still parse.
 */
export const shardPayloadSchema = z.object({
  v: z.literal(1),
  jobId: z.string(),
  shard: z.number().int().min(0),
  /** Index of the first item of this shard in the job's input order. */
  start: z.number().int().min(0),
  task: z.enum(['embed', 'sentiment']),
  modelId: z.string(),
  options: z.object({
    pooling: z.enum(['mean', 'cls']).optional(),
    normalize: z.boolean().optional(),
    topK: z.number().int().min(1).nullable().optional(),
    truncate: z.boolean().optional(),
    itemTokens: z.boolean().optional(),
  }),
  items: z.array(z.object({ id: z.string(), text: z.string() })),
  /** Ingest estimate of the shard's tokens (ops/token-estimate.ts); it leaves the backlog when the shard is counted. */
  estTokens: z.number().int().min(0).optional(),
});

export type ShardPayload = z.infer<typeof shardPayloadSchema>;

/** What a worker returns for a shard; kept small since BullMQ stores it in Redis. */
export interface ShardOutcome {
  succeeded: number;
  failed: number;
  truncated: number;
  tokens: number;
}

/** BullMQ job ids may not contain ':'; a deterministic id makes re-enqueueing a shard a no-op. */
export const shardJobId = (jobId: string, shard: number): string => `${jobId}-${shard}`;
