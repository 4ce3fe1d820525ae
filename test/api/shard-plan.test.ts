import { describe, expect, it } from 'vitest';
import { ShardPlanner, type PlannedShard } from '../../apps/api/src/ingest/shard-plan.js';
import { parseShardItems, splitNdjsonLines } from '#shared';

/** Plans one item per line of `texts` (each line `"text"\n`), as an NDJSON upload would. */
function planLines(texts: string[], maxTexts: number, maxBytes: number): { shards: PlannedShard[]; body: Buffer } {
  const planner = new ShardPlanner({ maxTexts, maxBytes });
  let offset = 0;
  const lines: string[] = [];
  for (const text of texts) {
    const line = `${JSON.stringify(text)}\n`;
    const bytes = Buffer.byteLength(line);
    planner.add(Buffer.byteLength(text), 1, offset, offset + bytes, 0);
    offset += bytes;
    lines.push(line);
  }
  const plan = planner.finish();
  return { shards: Array.from({ length: plan.length }, (_, i) => plan.at(i)), body: Buffer.from(lines.join('')) };
}

/** The items a worker would read for each planned shard. */
function read(body: Buffer, shards: PlannedShard[], format: 'ndjson' | 'openai-batch' = 'ndjson') {
  return shards.map((shard) =>
    parseShardItems(body.subarray(shard.range.start, shard.range.end), {
      start: shard.start,
      count: shard.count,
      input: { key: 'k', version: 'v', format, ...shard.range },
    }),
  );
}

describe('ShardPlanner', () => {
  it('cuts by text count into contiguous byte ranges of whole lines', () => {
    const texts = Array.from({ length: 10 }, (_, i) => `t${i}`);
    const { shards, body } = planLines(texts, 4, 1_000_000);
    expect(shards.map((s) => [s.start, s.count])).toEqual([
      [0, 4],
      [4, 4],
      [8, 2],
    ]);
    expect(shards[0]?.range.start).toBe(0);
    for (let i = 1; i < shards.length; i++) expect(shards[i]?.range.start).toBe(shards[i - 1]?.range.end);
    expect(shards.at(-1)?.range.end).toBe(body.length);
    expect(read(body, shards).flat()).toEqual(texts.map((text, i) => ({ id: String(i), text })));
  });

  it('an exact multiple of the count leaves no empty shard', () => {
    expect(
      planLines(
        Array.from({ length: 8 }, () => 'a'),
        4,
        1_000_000,
      ).shards.map((s) => s.count),
    ).toEqual([4, 4]);
  });

  it('cuts by UTF-8 bytes of text, fills to exactly the bound, applies whichever bound is hit first', () => {
    // 'é' is 2 bytes: each text is 6 bytes.
    expect(
      planLines(
        Array.from({ length: 10 }, () => 'ééé'),
        100,
        20,
      ).shards.map((s) => s.count),
    ).toEqual([3, 3, 3, 1]);
    expect(planLines(['aaaaa', 'bbbbb', 'c'], 100, 10).shards.map((s) => s.count)).toEqual([2, 1]);
    expect(planLines(['aaaa', 'b', 'c', 'd', 'eeee', 'ffff'], 3, 8).shards.map((s) => s.count)).toEqual([3, 2, 1]);
  });

  it('gives an item larger than the byte bound a shard of its own, and counts empty texts', () => {
    expect(planLines(['a', 'x'.repeat(50), 'b'], 100, 10).shards.map((s) => s.count)).toEqual([1, 1, 1]);
    expect(planLines(['', '', '', ''], 3, 10).shards.map((s) => s.count)).toEqual([3, 1]);
  });

  it('sums the token estimates of each shard and plans nothing for no items', () => {
    const planner = new ShardPlanner({ maxTexts: 2, maxBytes: 100 });
    expect(planner.finish().length).toBe(0);
    const second = new ShardPlanner({ maxTexts: 2, maxBytes: 100 });
    for (let i = 0; i < 3; i++) second.add(1, 10 + i, i * 4, i * 4 + 4, 0);
    const plan = second.finish();
    expect([plan.at(0).estTokens, plan.at(1).estTokens]).toEqual([21, 12]);
    expect(plan.counts()).toEqual([2, 1]);
    expect(() => plan.at(2)).toThrow(RangeError);
  });

  it('splits a line of several items (a batch request) between shards, the second skipping what the first took', () => {
    const lines = [
      { custom_id: 'r0', method: 'POST', url: '/v1/embeddings', body: { model: 'm', input: ['a', 'b', 'c'] } },
      { custom_id: 'r1', method: 'POST', url: '/v1/embeddings', body: { model: 'm', input: 'd' } },
    ].map((line) => `${JSON.stringify(line)}\n`);
    const body = Buffer.from(lines.join(''));
    const planner = new ShardPlanner({ maxTexts: 2, maxBytes: 100 });
    const parsed = splitNdjsonLines(body, 10_000);
    parsed.forEach((line, l) => {
      const inputs = l === 0 ? ['a', 'b', 'c'] : ['d'];
      inputs.forEach((text, position) => planner.add(text.length, 1, line.start, line.end, position));
    });
    const plan = planner.finish();
    const shards = Array.from({ length: plan.length }, (_, i) => plan.at(i));
    expect(shards.map((s) => [s.start, s.count, s.range.skip])).toEqual([
      [0, 2, 0],
      [2, 2, 2],
    ]);
    expect(read(body, shards, 'openai-batch')).toEqual([
      [
        { id: 'r0', text: 'a' },
        { id: 'r0\u00001', text: 'b' },
      ],
      [
        { id: 'r0\u00002', text: 'c' },
        { id: 'r1', text: 'd' },
      ],
    ]);
  });

  it('refuses a range that holds other items than the shard expects', () => {
    const { shards, body } = planLines(['a', 'b'], 10, 100);
    const changed = Buffer.from('"a"\n');
    expect(() => parseShardItems(changed, { start: 0, count: 2, input: { key: 'k', version: 'v', format: 'ndjson', ...shards[0]!.range } })).toThrow(
      /hold 1 items; the shard expects 2/,
    );
    expect(() => parseShardItems(Buffer.from('{"text":\n"b"\n'), { start: 0, count: 2, input: { key: 'k', version: 'v', format: 'ndjson', ...shards[0]!.range } })).toThrow(
      /changed after the job was accepted/,
    );
    expect(body.length).toBeGreaterThan(0);
  });
});
