/** The API's command connection (job records, staging, cancel publishes). */
export const REDIS = Symbol('REDIS');
