import type { JobsOptions } from 'bullmq';

/** Options the API puts on every shard; the worker's attempts and backoff live here, in one place. */
export function shardJobOptions(attempts: number): JobsOptions {
  return {
    attempts,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: { age: 3600, count: 10_000 },
    removeOnFail: { age: 24 * 3600 },
  };
}
