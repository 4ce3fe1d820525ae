/** The API's command connection (job records, staging, cancel publishes). */
export const REDIS = Symbol('REDIS');

/** The connection of the webhook queue, which also carries the API's progress publishes. */
export const NOTIFY_REDIS = Symbol('NOTIFY_REDIS');
