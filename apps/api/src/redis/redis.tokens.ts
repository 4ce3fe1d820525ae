/** The API's command connection (job records, staging, cancel publishes). */
export const REDIS = Symbol('REDIS');

/** The connection of the webhook queue, which also carries the API's progress publishes. */
export const NOTIFY_REDIS = Symbol('NOTIFY_REDIS');

/** The shard queue's connection (BullMQ's default in the API), which enqueues every job's shards. */
export const QUEUE_REDIS = Symbol('QUEUE_REDIS');
