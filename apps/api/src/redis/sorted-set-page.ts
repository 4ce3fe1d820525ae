import type { Redis } from 'ioredis';

export interface PageQuery {
  limit: number;
  after?: string;
  order?: 'asc' | 'desc';
}

/**
 * A cursor page of the records listed in a sorted set, newest first (or oldest first with order
 * 'asc'), starting after the id `after`. With a filter, pages are read on until `limit` items
 * matched or the set ends. Ids whose record is gone are skipped.
 */
export async function sortedSetPage<T extends { id: string }>(
  redis: Redis,
  key: string,
  { limit, after, order }: PageQuery,
  load: (id: string) => Promise<T | null>,
  keep?: (item: T) => boolean,
): Promise<{ items: T[]; hasMore: boolean }> {
  let start = 0;
  if (after !== undefined) {
    const rank = order === 'asc' ? await redis.zrank(key, after) : await redis.zrevrank(key, after);
    if (rank === null) return { items: [], hasMore: false };
    start = rank + 1;
  }
  const items: T[] = [];
  const chunk = Math.max(limit + 1, 50);
  for (;;) {
    const ids = order === 'asc' ? await redis.zrange(key, String(start), String(start + chunk - 1)) : await redis.zrevrange(key, start, start + chunk - 1);
    for (const id of ids) {
      const item = await load(id);
      if (!item || (keep && !keep(item))) continue;
      if (items.length === limit) return { items, hasMore: true };
      items.push(item);
    }
    if (ids.length < chunk) return { items, hasMore: false };
    start += chunk;
  }
}

/** Every field JSON-encoded, so partial updates are single HSETs. */
export function encodeRecord(record: object): Record<string, string> {
  const hash: Record<string, string> = {};
  for (const [field, value] of Object.entries(record)) if (value !== undefined) hash[field] = JSON.stringify(value);
  return hash;
}

export function decodeRecord<T>(hash: Record<string, string>): T | null {
  if (!hash.id) return null;
  const record: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(hash)) record[field] = JSON.parse(value);
  return record as T;
}
