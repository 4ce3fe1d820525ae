import { describe, expect, it } from 'vitest';
import { ShardCutter, type ShardDraft } from '../../apps/api/src/ingest/shard-cutter.js';

function cutAll(texts: string[], maxTexts: number, maxBytes: number): ShardDraft[] {
  const cutter = new ShardCutter({ maxTexts, maxBytes });
  const shards: ShardDraft[] = [];
  texts.forEach((text, i) => {
    const closed = cutter.push({ id: String(i), text }, i + 1);
    if (closed) shards.push(closed);
  });
  const last = cutter.flush();
  if (last) shards.push(last);
  return shards;
}

function expectContiguous(shards: ShardDraft[], total: number): void {
  let next = 0;
  shards.forEach((shard, i) => {
    expect(shard.index).toBe(i);
    expect(shard.start).toBe(next);
    expect(shard.items.map((item) => item.id)).toEqual(shard.items.map((_, k) => String(next + k)));
    expect(shard.origins).toEqual(shard.items.map((_, k) => next + k + 1));
    next += shard.items.length;
  });
  expect(next).toBe(total);
}

describe('ShardCutter', () => {
  it('cuts by text count', () => {
    const shards = cutAll(Array.from({ length: 10 }, () => 'a'), 4, 1_000_000);
    expect(shards.map((s) => s.items.length)).toEqual([4, 4, 2]);
    expectContiguous(shards, 10);
  });

  it('an exact multiple of the count leaves no empty shard', () => {
    const shards = cutAll(Array.from({ length: 8 }, () => 'a'), 4, 1_000_000);
    expect(shards.map((s) => s.items.length)).toEqual([4, 4]);
  });

  it('cuts by UTF-8 bytes of text, never exceeding the bound', () => {
    // 'é' is 2 bytes: each text is 6 bytes.
    const texts = Array.from({ length: 10 }, () => 'ééé');
    const shards = cutAll(texts, 100, 20);
    expect(shards.map((s) => s.bytes)).toEqual([18, 18, 18, 6]);
    for (const shard of shards) expect(shard.bytes).toBeLessThanOrEqual(20);
    expectContiguous(shards, 10);
  });

  it('fills a shard to exactly the byte bound', () => {
    const shards = cutAll(['aaaaa', 'bbbbb', 'c'], 100, 10);
    expect(shards.map((s) => s.items.length)).toEqual([2, 1]);
    expect(shards[0]?.bytes).toBe(10);
  });

  it('applies whichever bound is hit first', () => {
    const shards = cutAll(['aaaa', 'b', 'c', 'd', 'eeee', 'ffff'], 3, 8);
    expect(shards.map((s) => s.items.map((i) => i.text))).toEqual([['aaaa', 'b', 'c'], ['d', 'eeee'], ['ffff']]);
  });

  it('gives an item larger than the byte bound a shard of its own', () => {
    const shards = cutAll(['a', 'x'.repeat(50), 'b'], 100, 10);
    expect(shards.map((s) => s.items.map((i) => i.text.length))).toEqual([[1], [50], [1]]);
  });

  it('counts empty texts as texts of zero bytes', () => {
    const shards = cutAll(['', '', '', ''], 3, 10);
    expect(shards.map((s) => [s.items.length, s.bytes])).toEqual([
      [3, 0],
      [1, 0],
    ]);
  });

  it('reports counts and yields nothing when empty', () => {
    const cutter = new ShardCutter({ maxTexts: 2, maxBytes: 100 });
    expect(cutter.flush()).toBeNull();
    cutter.push({ id: 'a', text: 'x' }, 1);
    cutter.push({ id: 'b', text: 'y' }, 2);
    expect(cutter.count).toBe(2);
    expect(cutter.shardsCut).toBe(0);
    expect(cutter.push({ id: 'c', text: 'z' }, 3)?.items).toHaveLength(2);
    expect(cutter.shardsCut).toBe(1);
    expect(cutter.flush()?.start).toBe(2);
    expect(cutter.shardsCut).toBe(2);
  });
});
