import { describe, expect, it } from 'vitest';
import { buildFailedShardOutput, DUPLICATE_REF_BYTES, encodeDuplicateRef, jobDuplicatesKey, type DuplicateRef, type InputItem, type ShardPayload } from '#shared';
import { fakeJob, jobRecord, type Harness, useHarness } from './harness.js';

let h: Harness;
useHarness((harness) => {
  h = harness;
});

const item = (id: string, text: string): InputItem => ({ id, text });
const SHARD_0 = [item('a', 'hello world'), item('b', 'fail: too long'), item('c', 'long: cut off')];
const SHARD_1 = [item('d', 'new text'), item('e', 'hello world'), item('f', 'fail: too long'), item('g', 'long: cut off'), item('h', 'new text')];
/** Shard 1's items whose text first appeared in shard 0, as the API lists them. */
const REFS: DuplicateRef[] = [
  { index: 4, source: 0, sourceShard: 0 },
  { index: 5, source: 1, sourceShard: 0 },
  { index: 6, source: 2, sourceShard: 0 },
];

async function writeRefs(jobId: string, refs: readonly DuplicateRef[]): Promise<{ start: number; end: number }> {
  const bytes = Buffer.alloc(refs.length * DUPLICATE_REF_BYTES);
  refs.forEach((ref, k) => encodeDuplicateRef(bytes, k * DUPLICATE_REF_BYTES, ref));
  await h.objects.put(jobDuplicatesKey(jobId), bytes);
  return { start: 0, end: bytes.length };
}

/** Shard `shard` of a job of two shards (3 + 5 items), with the given dedup field. */
async function shardOf(jobId: string, shard: 0 | 1, dedup: ShardPayload['dedup'], task: 'embed' | 'sentiment' = 'embed'): Promise<ShardPayload> {
  const items = shard === 0 ? SHARD_0 : SHARD_1;
  return h.shard(jobId, { shard, start: shard === 0 ? 0 : 3, task, ...(dedup ? { dedup } : {}) }, items);
}

async function rendered(jobId: string, shard: number): Promise<string> {
  const result = await h.results.readShard(jobId, shard);
  if (result === null) throw new Error(`shard ${shard} of ${jobId} was not written`);
  return result.renderNdjson('results').toString('utf8');
}

async function createJob(jobId: string, task: 'embed' | 'sentiment' = 'embed'): Promise<void> {
  await h.jobs.create(jobRecord(jobId, { total: 8, shardsTotal: 2, task }));
}

describe('shard dedup (worker, real Redis)', () => {
  for (const task of ['embed', 'sentiment'] as const) {
    it(`${task}: copies repeats of a written earlier shard and computes each new text once; the lines are those of a run without dedup`, async () => {
      await createJob('plain', task);
      await h.processor.process(fakeJob(await shardOf('plain', 0, undefined, task)));
      await h.processor.process(fakeJob(await shardOf('plain', 1, undefined, task)));
      expect(h.pool.encodedTexts).toHaveLength(8);

      await createJob('dedup', task);
      h.pool.encodedTexts = [];
      await h.processor.process(fakeJob(await shardOf('dedup', 0, {}, task)));
      const refs = await writeRefs('dedup', REFS);
      const outcome = await h.processor.process(fakeJob(await shardOf('dedup', 1, { refs }, task)));
      // Shard 1 computed 'new text' once; its other four items took a result that already existed.
      expect(h.pool.encodedTexts).toEqual([...SHARD_0.map((i) => i.text), 'new text']);
      expect(outcome).toMatchObject({ succeeded: 4, failed: 1, truncated: 1, deduplicated: 4 });
      expect(await rendered('dedup', 0)).toBe(await rendered('plain', 0));
      expect(await rendered('dedup', 1)).toBe(await rendered('plain', 1));
      const [plain, dedup] = [await h.jobs.get('plain'), await h.jobs.get('dedup')];
      expect(dedup).toMatchObject({ state: 'completed', deduplicated: 4, succeeded: plain?.succeeded, failed: plain?.failed, tokens: plain?.tokens, truncated: plain?.truncated });
      expect(plain?.deduplicated).toBe(0);
      const metrics = (await h.metrics.render()).body;
      expect(metrics).toContain(`shardwise_worker_texts_deduplicated_total{task="${task}",model="fake/model"} 4`);
    });
  }

  it('computes the repeats of an earlier shard that is not written yet (it may still run), and still dedups within the shard', async () => {
    await createJob('j');
    const refs = await writeRefs('j', REFS);
    const outcome = await h.processor.process(fakeJob(await shardOf('j', 1, { refs })));
    expect(h.pool.encodedTexts).toEqual(['new text', 'hello world', 'fail: too long', 'long: cut off']);
    expect(outcome?.deduplicated).toBe(1);
  });

  it('computes a repeat whose first item failed with its shard (SHARD_FAILED is not the text): a retry of the text may succeed', async () => {
    await createJob('j');
    const failed = buildFailedShardOutput(
      'embed',
      SHARD_0.map((i) => i.id),
      0,
      3,
      'all attempts used',
      4,
    );
    await h.results.writeShard('j', 0, failed.object);
    const refs = await writeRefs('j', REFS);
    const outcome = await h.processor.process(fakeJob(await shardOf('j', 1, { refs })));
    expect(h.pool.encodedTexts).toEqual(['new text', 'hello world', 'fail: too long', 'long: cut off']);
    expect(outcome).toMatchObject({ succeeded: 4, failed: 1, deduplicated: 1 });
  });

  it('computes every text when the references cannot be read, and says why', async () => {
    await createJob('j');
    await h.processor.process(fakeJob(await shardOf('j', 0, {})));
    h.pool.encodedTexts = [];
    const outcome = await h.processor.process(fakeJob(await shardOf('j', 1, { refs: { start: 0, end: 36 } })));
    expect(h.pool.encodedTexts).toEqual(['new text', 'hello world', 'fail: too long', 'long: cut off']);
    expect(outcome?.deduplicated).toBe(1);
  });

  it('refuses references that point outside the shard or forward, and computes instead', async () => {
    await createJob('j');
    await h.processor.process(fakeJob(await shardOf('j', 0, {})));
    h.pool.encodedTexts = [];
    const refs = await writeRefs('j', [{ index: 4, source: 5, sourceShard: 1 }]);
    const outcome = await h.processor.process(fakeJob(await shardOf('j', 1, { refs })));
    expect(h.pool.encodedTexts).toHaveLength(4);
    expect(outcome?.deduplicated).toBe(1);
  });

  it('computes every item, repeats too, for a shard without the dedup field (dedup=false, or queued before dedup)', async () => {
    await createJob('j');
    const outcome = await h.processor.process(fakeJob(await shardOf('j', 1, undefined)));
    expect(h.pool.encodedTexts).toHaveLength(5);
    expect(outcome).not.toHaveProperty('deduplicated');
    expect((await h.jobs.get('j'))?.deduplicated).toBe(0);
  });

  it('sends nothing to the model when every text of the shard is a copy', async () => {
    await createJob('j');
    await h.processor.process(fakeJob(await shardOf('j', 0, {})));
    const encodes = h.pool.encodes;
    const items = [item('x', 'hello world'), item('y', 'hello world')];
    const refs = await writeRefs('j', [
      { index: 3, source: 0, sourceShard: 0 },
      { index: 4, source: 0, sourceShard: 0 },
    ]);
    const payload = await h.shard('j', { shard: 1, start: 3, dedup: { refs } }, items);
    const outcome = await h.processor.process(fakeJob(payload));
    expect(outcome).toMatchObject({ succeeded: 2, deduplicated: 2 });
    expect(h.pool.encodes).toBe(encodes);
    expect(h.pool.encodedTexts).toHaveLength(3);
  });
});
