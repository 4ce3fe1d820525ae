import type { JobRecord } from '#shared';

/** A job record as JobStore.create takes it: one queued embed job of 3 texts in 1 shard, with `overrides`. */
export function jobRecord(id: string, overrides: Partial<JobRecord> = {}): JobRecord {
  return {
    id,
    tenant: 'default',
    task: 'embed',
    modelId: 'fake/model',
    options: {},
    metadata: null,
    state: 'queued',
    total: 3,
    succeeded: 0,
    failed: 0,
    truncated: 0,
    tokens: 0,
    shardsTotal: 1,
    shardsDone: 0,
    shardsFailed: 0,
    dimensions: 4,
    createdAt: Date.now(),
    startedAt: null,
    finishedAt: null,
    error: null,
    ...overrides,
  };
}
