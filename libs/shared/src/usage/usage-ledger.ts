import type { Redis } from 'ioredis';
import { JobKeys } from '../jobs/job-keys.js';
import type { ShardResult } from '../results/shard-result.js';

/** What one counted shard adds to its tenant's usage: texts that got a result, and their tokens (after truncation). */
export interface ShardUsage {
  texts: number;
  tokens: number;
}

/** One row of the ledger: a tenant's use of one model on one UTC day. */
export interface UsageRow {
  /** `YYYY-MM-DD`, UTC. */
  date: string;
  tenant: string;
  model: string;
  texts: number;
  tokens: number;
}

export interface UsageQuery {
  /** First and last day, `YYYY-MM-DD` (UTC), both included. */
  from: string;
  to: string;
  /** Only this tenant / this model; all when absent. */
  tenant?: string;
  model?: string;
}

const DAY_MS = 86_400_000;

/** The UTC day of a time in ms, as the ledger keys it. */
export function usageDay(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

/** The days from `from` to `to` (`YYYY-MM-DD`, both included), oldest first. */
export function usageDays(from: string, to: string): string[] {
  const days: string[] = [];
  for (let t = Date.parse(`${from}T00:00:00Z`), end = Date.parse(`${to}T00:00:00Z`); t <= end; t += DAY_MS) days.push(usageDay(t));
  return days;
}

/**
 * Reads the usage ledger: one Redis hash per UTC day with fields `texts|<tenant>|<model>` and
 * `tokens|<tenant>|<model>`, written only by completeShard-6.lua (includes/countUsage.lua) in the step
 * that counts a shard, so a shard delivered twice is billed once. Tenant names cannot hold `|`
 * (TENANT_NAME); model ids may, so the model is the rest of the field.
 */
export class UsageLedger {
  private readonly keys: JobKeys;

  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    this.keys = new JobKeys(prefix);
  }

  /** Rows by day, then tenant, then model; days and pairs without use are left out. One round trip. */
  async read(query: UsageQuery): Promise<UsageRow[]> {
    const days = usageDays(query.from, query.to);
    const pipeline = this.redis.pipeline();
    for (const day of days) pipeline.hgetall(this.keys.usageDay(day));
    const replies = (await pipeline.exec()) ?? [];
    const rows: UsageRow[] = [];
    days.forEach((date, d) => {
      const [error, hash] = replies[d] ?? [null, {}];
      if (error) throw error;
      const byPair = new Map<string, UsageRow>();
      for (const [field, value] of Object.entries(hash as Record<string, string>)) {
        const first = field.indexOf('|');
        const second = field.indexOf('|', first + 1);
        if (first < 0 || second < 0) continue;
        const kind = field.slice(0, first);
        const tenant = field.slice(first + 1, second);
        const model = field.slice(second + 1);
        if ((kind !== 'texts' && kind !== 'tokens') || (query.tenant !== undefined && tenant !== query.tenant) || (query.model !== undefined && model !== query.model)) continue;
        const pair = `${tenant}|${model}`;
        const row = byPair.get(pair) ?? { date, tenant, model, texts: 0, tokens: 0 };
        byPair.set(pair, row);
        row[kind] += Number(value);
      }
      rows.push(...[...byPair.values()].sort((a, b) => a.tenant.localeCompare(b.tenant) || a.model.localeCompare(b.model)));
    });
    return rows;
  }
}

/** A shard result's usage: its succeeded texts and their tokens. */
export function shardUsageOf(result: ShardResult): ShardUsage {
  return { texts: result.header.summary.succeeded, tokens: result.succeededTokens() };
}
