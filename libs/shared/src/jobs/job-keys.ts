/** Every Redis key of the job record lives here, so nothing else spells them. */
export class JobKeys {
  constructor(private readonly prefix: string) {}
  job(id: string): string {
    return `${this.prefix}:job:${id}`;
  }
  doneShards(id: string): string {
    return `${this.prefix}:job:${id}:done`;
  }
  tenantJobs(tenant: string): string {
    return `${this.prefix}:jobs:${tenant}`;
  }
  /** Queue-wide counters kept by the job scripts: jobs per state, backlog texts and tokens (see ops/ops-store.ts). */
  stats(): string {
    return `${this.prefix}:stats`;
  }
  /**
   * Webhook outbox (sorted set: job id -> ms it became due). The job scripts add a job with a
   * callbackUrl in the same step that makes it terminal; whoever queues its delivery removes it, and
   * workers re-queue entries left behind by a process that died in between (JobNotifierService).
   */
  webhookOutbox(): string {
    return `${this.prefix}:webhooks:pending`;
  }
  /** Retention: ended jobs by when they expire (sorted set: job id -> ms); the janitor deletes the due ones. */
  expiry(): string {
    return `${this.prefix}:expiry`;
  }
  /** The usage ledger of one UTC day, `YYYY-MM-DD` (usage/usage-ledger.ts): a hash of texts and tokens per tenant and model. */
  usageDay(day: string): string {
    return `${this.prefix}:usage:${day}`;
  }
  /** Bytes and objects this installation holds in the object store (storage/metered-object-store.ts). */
  storeCounters(): string {
    return `${this.prefix}:store`;
  }
}
