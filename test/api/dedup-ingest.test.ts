import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { decodeDuplicateRefs, FsObjectStore, jobDuplicatesKey, type InputItem } from '#shared';
import { DedupIndex } from '../../apps/api/src/ingest/dedup-index.js';
import { DuplicateRefsWriter } from '../../apps/api/src/ingest/duplicate-refs-writer.js';
import { ShardPlanner } from '../../apps/api/src/ingest/shard-plan.js';
import { JobIngest } from '../../apps/api/src/jobs/job-ingest.js';
import { syntheticCorpus } from '../../tools/synthetic-corpus.js';

describe('DedupIndex', () => {
  it('answers the first index of every text, exactly as a Map of the texts, across many resizes', () => {
    const index = new DedupIndex(1_000_000);
    const reference = new Map<string, number>();
    const texts = [...syntheticCorpus(50_000, { seed: 3, repeatShare: 0.3, emptyShare: 0.01 })].map((item) => item.text);
    texts.push('e\u0301', '\u00e9', 'a\u0000b', 'a\u0000c', '\ud83d\ude42', '\ud83d', '');
    texts.forEach((text, i) => {
      const expected = reference.get(text) ?? -1;
      if (expected === -1) reference.set(text, i);
      expect(index.firstOf(text, i)).toBe(expected);
    });
    expect(index.distinct).toBe(reference.size);
    expect(index.overflowed).toBe(0);
    // 16 bytes a slot, at most 3/4 full, a power of two.
    expect(index.bytes).toBe(16 * 2 ** Math.ceil(Math.log2(reference.size / 0.75)));
  });

  it('stops remembering new texts at maxTexts, still finds repeats of those it holds, and never grows past its bound', () => {
    const index = new DedupIndex(100);
    for (let i = 0; i < 100; i++) expect(index.firstOf(`text ${i}`, i)).toBe(-1);
    const full = index.bytes;
    for (let i = 100; i < 10_000; i++) expect(index.firstOf(`text ${i}`, i)).toBe(-1);
    expect(index.overflowed).toBe(9_900);
    expect(index.firstOf('text 5', 20_000)).toBe(5);
    expect(index.firstOf('text 500', 20_001)).toBe(-1);
    expect(index.distinct).toBe(100);
    expect(index.bytes).toBe(full);
    expect(full).toBe(16 * 256);
  });

  it('refuses a bound below one', () => {
    expect(() => new DedupIndex(0)).toThrow(/maxTexts must be an integer >= 1/);
  });

  it('holds 1,000,000 distinct texts in 32 MiB and looks up a short text in about a microsecond', () => {
    const index = new DedupIndex(1_000_000);
    const started = performance.now();
    for (let i = 0; i < 1_000_000; i++) index.firstOf(`review ${i}: fast delivery, great price`, i);
    const perText = (performance.now() - started) / 1_000_000;
    expect(index.bytes).toBe(32 * 1024 * 1024);
    expect(index.firstOf('review 999999: fast delivery, great price', 2_000_000)).toBe(999_999);
    // Loose: a loaded CI machine is slow, but a table that degraded to long probe chains is far slower.
    expect(perText).toBeLessThan(0.02);
  });
});

describe('ShardPlan.shardOf', () => {
  it('finds the shard of every item', () => {
    const planner = new ShardPlanner({ maxTexts: 3, maxBytes: 1_000_000 });
    for (let i = 0; i < 10; i++) planner.add(1, 1, i, i + 1, 0);
    const plan = planner.finish();
    expect(Array.from({ length: 10 }, (_, i) => plan.shardOf(i))).toEqual([0, 0, 0, 1, 1, 1, 2, 2, 2, 3]);
    expect(() => plan.shardOf(10)).toThrow(/item 10 is in no planned shard/);
  });
});

describe('JobIngest with dedup, against a real file store', () => {
  let dir: string;
  let objects: FsObjectStore;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-dedup-ingest-'));
    objects = new FsObjectStore(dir);
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function ingest(texts: string[], maxTexts = 1000): Promise<{ refs: DuplicateRefsWriter; totals: Awaited<ReturnType<JobIngest['finish']>> }> {
    const refs = new DuplicateRefsWriter(objects, jobDuplicatesKey('j1'));
    const target = { jobId: 'j1', task: 'embed' as const, modelId: 'm', options: {}, dedup: true };
    const ingest = new JobIngest(target, { maxTexts: 3, maxBytes: 1_000_000, maxInputs: 1_000_000 }, 'line', { maxTexts, refs });
    for (const [i, text] of texts.entries()) await ingest.add({ id: String(i), text } satisfies InputItem, i + 1, i, i + 1);
    const totals = await ingest.finish(async function* () {});
    await ingest.dispose();
    return { refs, totals };
  }

  it('writes each repeat of a text first seen in an earlier shard, by shard, and leaves repeats within a shard to the worker', async () => {
    //             shard 0        shard 1        shard 2        shard 3
    const texts = ['a', 'b', 'a', 'b', 'c', 'c', 'a', 'd', 'c', 'e'];
    const { refs, totals } = await ingest(texts);
    expect(totals.repeats).toBe(5);
    expect(totals.dedup).toBe(refs);
    const stored = (await objects.read(jobDuplicatesKey('j1'))) as Buffer;
    const shard = (k: number) => {
      const range = refs.rangeOf(k);
      return range === undefined ? [] : decodeDuplicateRefs(stored.subarray(range.start, range.end), k, 3 * k, 3);
    };
    expect(shard(0)).toEqual([]);
    expect(shard(1)).toEqual([{ index: 3, source: 1, sourceShard: 0 }]);
    expect(shard(2)).toEqual([
      { index: 6, source: 0, sourceShard: 0 },
      { index: 8, source: 4, sourceShard: 1 },
    ]);
    expect(shard(3)).toEqual([]);
    expect(refs.rangeOf(2)).toEqual({ start: 12, end: 36 });
  });

  it('writes no object when no text repeats across shards', async () => {
    const { refs } = await ingest(['a', 'a', 'b', 'c', 'd', 'c']);
    expect(refs.rangeOf(0)).toBeUndefined();
    expect(refs.rangeOf(1)).toBeUndefined();
    expect(await objects.stat(jobDuplicatesKey('j1'))).toBeNull();
  });

  it('removes the object when the job is refused after it was written', async () => {
    const { refs } = await ingest(['a', 'b', 'c', 'a']);
    expect(await objects.stat(jobDuplicatesKey('j1'))).not.toBeNull();
    await refs.discard();
    expect(await objects.stat(jobDuplicatesKey('j1'))).toBeNull();
  });
});
