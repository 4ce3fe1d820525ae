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
  stagedShard(id: string, shard: number): string {
    return `${this.prefix}:stage:${id}:${shard}`;
  }
  stagedIds(id: string): string {
    return `${this.prefix}:stage:${id}:ids`;
  }
}
