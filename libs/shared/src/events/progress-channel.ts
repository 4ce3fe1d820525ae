/**
 * Live progress: after each shard is counted (and on cancel) a message is published on the job's own
 * channel. The message is only a nudge: the API reads the job record again and sends that, so a
 * lost or reordered message can never show wrong counts.
 */
export const progressChannel = (prefix: string, jobId: string): string => `${prefix}:progress:${jobId}`;

/** Pattern of every progress channel of a prefix (for tools; the API subscribes per job). */
export const progressChannelPattern = (prefix: string): string => `${prefix}:progress:*`;

export interface ProgressMessage {
  /** 'shard' after a shard was counted; 'finished' when that made the job terminal; 'cancelled' from the API. */
  kind: 'shard' | 'finished' | 'cancelled';
  shard?: number;
}
