export enum QueueName {
  Shards = 'shards',
}

/**
 * Length the shard queue's event stream is trimmed to (BullMQ keeps it in the queue's meta, default
 * 10,000 entries, ~1.5 MB). Only the API's QueueEvents reads it, to answer synchronous requests, and
 * it reads as events arrive: a shorter stream is enough and keeps Redis small.
 */
export const SHARD_EVENTS_MAX_LEN = 2000;

/** Where BullMQ keeps its keys, under the deployment's REDIS_PREFIX; each app sets it once, in BullModule.forRootAsync. */
export function bullPrefix(redisPrefix: string): string {
  return `${redisPrefix}:bull`;
}
