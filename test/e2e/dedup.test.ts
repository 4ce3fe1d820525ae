import { Redis } from 'ioredis';
import OpenAI, { toFile } from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { syntheticCorpus } from '../../tools/synthetic-corpus.js';
import type { AppProcess } from '../support/app-process.js';
import { authHeaders, finished, MODEL_DIR, postJob, postNdjson, Stack, waitFor, type JobView } from '../support/stack.js';

const EMBED = 'shardwise-random/bert-tiny-embed';
const SENTIMENT = 'shardwise-random/distilbert-tiny-sentiment';
const SHARD_MAX_TEXTS = 40;

/** 30% of the rows repeat an earlier one, within and across shards; empty texts and texts over the tiny models' 128-token limit repeat too. */
function corpus(count: number, seed: number): Array<{ id: string; text: string }> {
  return [...syntheticCorpus(count, { seed, repeatShare: 0.3, repeatWindow: 150, paragraphShare: 0.1, overLimitShare: 0.05, emptyShare: 0.02 })];
}

const distinct = (items: ReadonlyArray<{ text: string }>): number => new Set(items.map((item) => item.text)).size;

/** Repeats whose first item is in an earlier shard: only the API's references can save those. */
function crossShardRepeats(items: ReadonlyArray<{ text: string }>): number {
  const first = new Map<string, number>();
  let count = 0;
  items.forEach((item, i) => {
    const at = first.get(item.text);
    if (at === undefined) first.set(item.text, i);
    else if (Math.floor(at / SHARD_MAX_TEXTS) < Math.floor(i / SHARD_MAX_TEXTS)) count++;
  });
  return count;
}

async function download(base: string, id: string, format: string): Promise<Buffer> {
  const reply = await fetch(`${base}/v1/jobs/${id}/results?format=${format}`, { headers: authHeaders() });
  const body = Buffer.from(await reply.arrayBuffer());
  if (reply.status !== 200) throw new Error(`GET results ${id} as ${format}: ${reply.status} ${body.toString('utf8')}`);
  return body;
}

/** A shard never starts before the one in front of it is written (one worker, one shard at a time), so every repeat finds its first. */
describe('dedup, end to end: identical texts computed once, results identical to a run without dedup', () => {
  let stack: Stack;
  let api: AppProcess;

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny' });
    stack = await Stack.start({ modelDir: MODEL_DIR });
    api = await stack.startApi({ SHARD_MAX_TEXTS: String(SHARD_MAX_TEXTS) });
    await stack.startWorker({ INFERENCE_THREADS: '2', WORKER_CONCURRENCY: '1', PRELOAD_MODELS: `${EMBED},${SENTIMENT}` });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  async function run(submit: () => Promise<{ status: number; body: Record<string, unknown> }>): Promise<JobView> {
    const submitted = await submit();
    expect(submitted.status, JSON.stringify(submitted.body)).toBe(202);
    const job = await waitFor(api.baseUrl, submitted.body.id as string, finished);
    expect(job.state).toBe('completed');
    return job;
  }

  /** The files name their job in the footer's key-value metadata: with that id swapped, every byte is the same. */
  async function expectSameParquet(on: string, off: string): Promise<void> {
    expect(on.length).toBe(off.length);
    const withOnId = await download(api.baseUrl, on, 'parquet');
    const withOffId = await download(api.baseUrl, off, 'parquet');
    expect(withOnId.indexOf(on)).toBeGreaterThan(0);
    expect(Buffer.from(withOnId.toString('latin1').replaceAll(on, off), 'latin1').equals(withOffId)).toBe(true);
  }

  it('embed (NDJSON upload): counts.deduplicated is every repeat, and NDJSON, f32 and Parquet are byte for byte those of dedup=false', async () => {
    const items = corpus(600, 7);
    const repeats = items.length - distinct(items);
    expect(repeats).toBeGreaterThan(150);
    expect(crossShardRepeats(items)).toBeGreaterThan(repeats / 2);
    const on = await run(() => postNdjson(api.baseUrl, { task: 'embed', model: EMBED }, items));
    const off = await run(() => postNdjson(api.baseUrl, { task: 'embed', model: EMBED, dedup: 'false' }, items));
    expect(on.shards.total).toBe(Math.ceil(items.length / SHARD_MAX_TEXTS));
    expect(on.counts).toEqual({ total: items.length, succeeded: items.length, failed: 0, deduplicated: repeats });
    expect(off.counts).toEqual({ total: items.length, succeeded: items.length, failed: 0, deduplicated: 0 });
    expect(on.truncated).toBe(off.truncated);
    expect(on.truncated).toBeGreaterThan(0);
    expect(on.tokens_processed).toBe(off.tokens_processed);

    const ndjson = await download(api.baseUrl, on.id, 'ndjson');
    expect(ndjson.equals(await download(api.baseUrl, off.id, 'ndjson'))).toBe(true);
    const lines = ndjson.toString('utf8').trimEnd().split('\n');
    expect(lines.map((line) => (JSON.parse(line) as { id: string }).id)).toEqual(items.map((item) => item.id));
    expect((await download(api.baseUrl, on.id, 'f32')).equals(await download(api.baseUrl, off.id, 'f32'))).toBe(true);
    await expectSameParquet(on.id, off.id);
  });

  it('sentiment (JSON body), over-long texts failing with TEXT_TOO_LONG: a repeat of a failed text fails the same way, results identical', async () => {
    const items = corpus(400, 8);
    const repeats = items.length - distinct(items);
    const body = { task: 'sentiment', model: SENTIMENT, options: { truncate: false }, inputs: items };
    const on = await run(() => postJob(api.baseUrl, body));
    const off = await run(() => postJob(api.baseUrl, { ...body, dedup: false }));
    expect(on.counts.deduplicated).toBe(repeats);
    expect(off.counts.deduplicated).toBe(0);
    expect(on.counts.failed).toBeGreaterThan(0);
    expect({ ...on.counts, deduplicated: 0 }).toEqual(off.counts);

    const ndjson = await download(api.baseUrl, on.id, 'ndjson');
    expect(ndjson.equals(await download(api.baseUrl, off.id, 'ndjson'))).toBe(true);
    const failedTexts = new Set(
      ndjson
        .toString('utf8')
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as { index: number; error?: { code: string } })
        .filter((line) => line.error?.code === 'TEXT_TOO_LONG')
        .map((line) => items[line.index]?.text),
    );
    // Every item whose text failed once failed: repeats included.
    const expectedFailures = items.filter((item) => failedTexts.has(item.text)).length;
    expect(on.counts.failed).toBe(expectedFailures);
    expect(expectedFailures).toBeGreaterThan(failedTexts.size);
    await expectSameParquet(on.id, off.id);
  });

  it('an OpenAI embeddings batch with repeated inputs: its job dedups, and every output embedding is the one a job without dedup gives', async () => {
    const client = new OpenAI({ apiKey: 'unused', baseURL: `${api.baseUrl}/v1`, maxRetries: 0 });
    const texts = corpus(200, 9).map((item) => item.text);
    // Requests of one to three inputs, so repeats fall within a request, across requests and across shards.
    const requests: Array<{ custom_id: string; method: 'POST'; url: string; body: { model: string; input: string | string[] } }> = [];
    for (let at = 0, r = 0; at < texts.length; r++) {
      const size = 1 + (r % 3);
      const input = texts.slice(at, at + size);
      requests.push({ custom_id: `req-${r}`, method: 'POST', url: '/v1/embeddings', body: { model: EMBED, input: size === 1 ? (input[0] as string) : input } });
      at += size;
    }
    const file = await client.files.create({ file: await toFile(Buffer.from(requests.map((r) => `${JSON.stringify(r)}\n`).join('')), 'batch.jsonl'), purpose: 'batch' });
    const created = await client.batches.create({ input_file_id: file.id, endpoint: '/v1/embeddings', completion_window: '24h' });
    let batch = created;
    for (const deadline = Date.now() + 60_000; batch.status !== 'completed'; ) {
      if (Date.now() > deadline || ['failed', 'cancelled', 'expired'].includes(batch.status)) throw new Error(`batch ${batch.id} is ${batch.status}`);
      await new Promise((r) => setTimeout(r, 150));
      batch = await client.batches.retrieve(created.id);
    }
    const records = new Redis(stack.redis.url);
    const jobId = JSON.parse((await records.hget(`sw:oai:batch:${created.id}`, 'jobId')) as string) as string;
    records.disconnect();
    const job = await waitFor(api.baseUrl, jobId, finished);
    expect(job.counts.deduplicated).toBe(texts.length - distinct(texts.map((text) => ({ text }))));

    const off = await run(() => postJob(api.baseUrl, { task: 'embed', model: EMBED, inputs: texts, dedup: false }));
    const expected = (await download(api.baseUrl, off.id, 'ndjson'))
      .toString('utf8')
      .trimEnd()
      .split('\n')
      .map((line) => (JSON.parse(line) as { embedding: number[] }).embedding);
    const output = (await (await client.files.content(batch.output_file_id as string)).text()).trimEnd().split('\n');
    const got = output.flatMap((line) => (JSON.parse(line) as { response: { body: { data: Array<{ embedding: number[] }> } } }).response.body.data.map((item) => item.embedding));
    expect(got).toEqual(expected);
  });

  it('refuses a dedup that is not a boolean, naming the field', async () => {
    const reply = await postJob(api.baseUrl, { task: 'embed', model: EMBED, inputs: ['a'], dedup: 'no' });
    expect(reply.status).toBe(400);
    expect(reply.body).toMatchObject({ error: { code: 'INVALID_OPTION', field: 'dedup' } });
    const query = await postNdjson(api.baseUrl, { task: 'embed', model: EMBED, dedup: 'maybe' }, [{ text: 'a' }]);
    expect(query.status).toBe(400);
    expect(query.body).toMatchObject({ error: { code: 'INVALID_OPTION', field: 'dedup' } });
  });
});
