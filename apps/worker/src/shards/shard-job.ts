import { UnrecoverableError } from 'bullmq';
import { z } from 'zod';
import { InvalidObjectKeyError, ObjectChangedError, ShardInputError, shardPayloadSchema, type ShardPayload } from '#shared';

/** A shard as BullMQ hands it to the worker: the part of its BullMQ Job the worker reads; tests pass plain objects. */
export interface QueuedShard {
  readonly id?: string;
  readonly data: unknown;
  /** After a failure BullMQ has already counted the failed attempt here. */
  readonly attemptsMade: number;
  readonly opts: { readonly attempts?: number };
  /** When the shard was enqueued (ms); BullMQ sets it, tests may leave it out. */
  readonly timestamp?: number;
}

/** A payload that does not parse will not parse on a retry either. */
export function parseShardPayload(data: unknown): ShardPayload {
  const parsed = shardPayloadSchema.safeParse(data);
  if (!parsed.success) throw new UnrecoverableError(`invalid shard payload: ${z.prettifyError(parsed.error)}`);
  return parsed.data;
}

/**
 * What can still be learned from a payload that failed to parse, to close its shard: its item count
 * from `count`, or from the inline `items` of a v1 shard queued before an upgrade (their items then
 * fail with the reason instead of vanishing from the job's counts).
 */
export function salvageShardIdentity(data: unknown): { jobId: string; shard: number; itemCount: number } | null {
  const loose = z
    .object({ jobId: z.string().min(1), shard: z.number().int().min(0), count: z.number().int().min(0).optional(), items: z.array(z.unknown()).optional() })
    .safeParse(data);
  if (!loose.success) return null;
  return { jobId: loose.data.jobId, shard: loose.data.shard, itemCount: loose.data.count ?? loose.data.items?.length ?? 0 };
}

/**
 * Reading a shard's input: an object that changed or vanished since the job was accepted, or a range
 * that no longer parses, will be the same on a retry (UnrecoverableError); store errors may pass.
 */
export function classifyInputError(error: unknown): Error {
  const err = error instanceof Error ? error : new Error(String(error));
  if (err instanceof ObjectChangedError || err instanceof ShardInputError || err instanceof InvalidObjectKeyError) return new UnrecoverableError(err.message);
  return err;
}

export function isUnrecoverable(error: Error): boolean {
  return error instanceof UnrecoverableError || error.name === 'UnrecoverableError';
}

/** True when BullMQ will not run this shard again. */
export function isFinalFailure(queued: QueuedShard, error: Error): boolean {
  return isUnrecoverable(error) || queued.attemptsMade >= (queued.opts.attempts ?? 1);
}
