import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parquetReadObjects } from 'hyparquet';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateModels } from '../../tools/model-generator/index.js';
import { syntheticCorpus } from '../../tools/synthetic-corpus.js';
import type { ResultLine } from '#shared';
import { parquetFooterRows } from '../../apps/api/src/jobs/parquet-footer.js';
import { expectedRow, readParquetResults } from '../support/parquet-results.js';
import { finished, jobOf, MODEL_DIR, postJob, request, resultsOf, Stack, TINY_EMBED, waitFor } from '../support/stack.js';

/**
 * GET /v1/jobs/:id/results?format=parquet through a real API and worker, read back with hyparquet
 * and compared row by row with the job's NDJSON results.
 */
const SENTIMENT = 'shardwise-random/bert-tiny-sentiment';
const SHARD_TEXTS = 50;
/** Far over the tiny models' 128 tokens: TEXT_TOO_LONG when truncate is false. */
const LONG = 'word '.repeat(3000);
/** Inputs under this store prefix are read slowly by the worker, so a job can be caught half done. */
const SLOW_PREFIX = 'corpora/slow/';

interface Download {
  status: number;
  headers: Headers;
  body: Buffer;
}

describe('results as Parquet', () => {
  let stack: Stack;
  let base: string;
  let bigJob: { id: string; lines: ResultLine[] };

  async function download(id: string, query: string, headers: Record<string, string> = {}): Promise<Download> {
    const response = await fetch(`${base}/v1/jobs/${id}/results${query}`, { headers });
    return { status: response.status, headers: response.headers, body: Buffer.from(await response.arrayBuffer()) };
  }

  async function finishedJob(job: Record<string, unknown>): Promise<{ id: string; lines: ResultLine[] }> {
    const reply = await postJob(base, job);
    expect(reply.status, JSON.stringify(reply.body)).toBe(202);
    const id = reply.body.id as string;
    expect((await waitFor(base, id, finished)).state).toBe('completed');
    return { id, lines: (await resultsOf(base, id)) as ResultLine[] };
  }

  beforeAll(async () => {
    await generateModels({ out: MODEL_DIR, size: 'tiny', family: ['bert'], dtype: ['fp32'] });
    stack = await Stack.start({ env: { SHARD_MAX_TEXTS: String(SHARD_TEXTS) } });
    base = (await stack.startApi()).baseUrl;
    await stack.startWorker({
      PRELOAD_MODELS: `${TINY_EMBED},${SENTIMENT}`,
      SHARDWISE_FAULT_STORE_READ_DELAY_MS: '300',
      SHARDWISE_FAULT_STORE_KEYS: `^${SLOW_PREFIX}`,
    });
  });

  afterAll(async () => {
    await stack?.stop();
  });

  it('writes an embed job with failed items: every row equals its NDJSON line, floats bit for bit', async () => {
    const inputs = Array.from({ length: 120 }, (_, i) => ({ id: `e-${i}`, text: i % 17 === 3 ? LONG : `embed me, item ${i}` }));
    const { id, lines } = await finishedJob({ task: 'embed', model: TINY_EMBED, inputs, options: { truncate: false } });
    expect(lines.filter((line) => line.error?.code === 'TEXT_TOO_LONG')).toHaveLength(7);

    const file = await download(id, '?format=parquet');
    expect(file.status).toBe(200);
    expect(file.headers.get('content-type')).toBe('application/vnd.apache.parquet');
    expect(file.headers.get('content-disposition')).toBe(`attachment; filename="${id}.parquet"`);
    expect(file.headers.get('x-item-count')).toBe('120');
    const parquet = await readParquetResults(file.body);
    expect(parquet.columns).toEqual(['id', 'index', 'embedding', 'truncated', 'error_code', 'error_message']);
    expect(JSON.parse(parquet.metadata.shardwise ?? '')).toEqual({ job_id: id, task: 'embed', model: TINY_EMBED });
    expect(parquet.rows).toEqual(lines.map((line) => expectedRow(line, { task: 'embed' })));

    // The stored float32 bits (as format=f32 streams them), -0 included, not the printed decimals.
    const f32 = (await download(id, '?format=f32')).body;
    const dims = Number(file.headers.get('x-embedding-dimensions'));
    const raw = await parquetReadObjects({ file: file.body.buffer.slice(file.body.byteOffset, file.body.byteOffset + file.body.length) as ArrayBuffer, columns: ['embedding'] });
    raw.forEach((row, i) => {
      if (row.embedding === null) return;
      expect(Buffer.from(Float32Array.from(row.embedding as number[]).buffer).equals(f32.subarray(i * dims * 4, (i + 1) * dims * 4))).toBe(true);
    });

    // Content negotiation gives the same file, byte for byte: downloads are reproducible.
    const negotiated = await download(id, '', { accept: 'application/vnd.apache.parquet' });
    expect(negotiated.headers.get('content-type')).toBe('application/vnd.apache.parquet');
    expect(negotiated.body.equals(file.body), `${negotiated.body.length} vs ${file.body.length} bytes`).toBe(true);
  });

  it('writes a sentiment job with failed items: labels, scores in line order and errors', async () => {
    const inputs = Array.from({ length: 70 }, (_, i) => (i % 9 === 4 ? LONG : i % 2 ? `what a wonderful day ${i}` : `this is terrible ${i}`));
    const { id, lines } = await finishedJob({ task: 'sentiment', model: SENTIMENT, inputs, options: { truncate: false } });
    expect(lines.filter((line) => line.error !== undefined)).toHaveLength(8);

    const parquet = await readParquetResults((await download(id, '?format=parquet')).body);
    expect(parquet.columns).toEqual(['id', 'index', 'label', 'score', 'scores', 'truncated', 'error_code', 'error_message']);
    expect(parquet.rows).toEqual(lines.map((line) => expectedRow(line, { task: 'sentiment' })));
    expect(parquet.rows.filter((row) => row.label !== null)).toHaveLength(62);
  });

  it('writes a job of a few thousand items in row groups of the asked size; refuses bad row_group_size', async () => {
    const inputs = [...syntheticCorpus(3000, { seed: 11, overLimitShare: 0.02 })];
    bigJob = await finishedJob({ task: 'embed', model: TINY_EMBED, inputs });
    const { id, lines } = bigJob;
    expect(lines.some((line) => line.truncated === true)).toBe(true);

    let started = performance.now();
    const ndjson = await download(id, '');
    const ndjsonMs = performance.now() - started;
    started = performance.now();
    const whole = await download(id, '?format=parquet');
    const parquetMs = performance.now() - started;
    const grouped = await download(id, '?format=parquet&row_group_size=1024');
    console.log(
      `3000 items x 32 dims: NDJSON ${ndjson.body.length} bytes in ${ndjsonMs.toFixed(0)} ms; ` +
        `Parquet ${whole.body.length} bytes (${((100 * whole.body.length) / ndjson.body.length).toFixed(0)}% of NDJSON) in ${parquetMs.toFixed(0)} ms; ` +
        `with row groups of 1024: ${grouped.body.length} bytes`,
    );

    expect((await readParquetResults(whole.body)).rowGroups).toEqual([3000]);
    const parquet = await readParquetResults(grouped.body);
    expect(parquet.rowGroups).toEqual([1024, 1024, 952]);
    expect(parquet.rows).toEqual(lines.map((line) => expectedRow(line, { task: 'embed' })));

    for (const query of ['?format=parquet&row_group_size=10', '?format=parquet&row_group_size=many', '?format=f32&row_group_size=2048']) {
      const refused = await request(base, `/v1/jobs/${id}/results${query}`);
      expect([refused.status, (refused.body as { error: { code: string } }).error.code], query).toEqual([400, 'INVALID_QUERY']);
    }
  });

  it('partial=true: the shards written when asked, each row as the finished job has it', async () => {
    await mkdir(join(stack.resultsDir, SLOW_PREFIX), { recursive: true });
    const items = Array.from({ length: 20 * SHARD_TEXTS }, (_, i) => ({ id: `slow-${i}`, text: `slowly read text ${i}` }));
    await writeFile(join(stack.resultsDir, SLOW_PREFIX, 'items.jsonl'), `${items.map((item) => JSON.stringify(item)).join('\n')}\n`);
    const reply = await postJob(base, { task: 'embed', model: TINY_EMBED, input_object: `${SLOW_PREFIX}items.jsonl` });
    expect(reply.status).toBe(202);
    const id = reply.body.id as string;

    const early = await download(id, '?format=parquet&partial=true');
    expect(early.status).toBe(200);
    expect(parquetFooterRows(early.body)).toBe(Number(early.headers.get('x-item-count')));

    await waitFor(base, id, (job) => job.shards.done >= 2);
    expect((await download(id, '?format=parquet')).status).toBe(409);
    const file = await download(id, '?format=parquet&partial=true');
    const stateAfter = (await jobOf(base, id)).state;
    expect(file.status).toBe(200);
    const parquet = await readParquetResults(file.body);
    const count = Number(file.headers.get('x-item-count'));
    expect(parquet.rows).toHaveLength(count);
    expect(stateAfter).toBe('running');
    expect(count).toBeGreaterThanOrEqual(2 * SHARD_TEXTS);
    expect(count).toBeLessThan(items.length);
    expect(count % SHARD_TEXTS).toBe(0);

    await waitFor(base, id, finished);
    const lines = (await resultsOf(base, id)) as ResultLine[];
    expect(parquet.rows).toEqual(parquet.rows.map((row) => expectedRow(lines[row.index as number] as ResultLine, { task: 'embed' })));
  });

  it('cuts the download when a shard cannot be read: what arrived is no Parquet file', async () => {
    const { id } = bigJob;
    // Row groups of 1024 rows: the first two are written by shard 41, the third needs shard 55.
    const faulty = await stack.startApi({ SHARDWISE_FAULT_STORE_READ: 'always', SHARDWISE_FAULT_STORE_KEYS: `^jobs/${id}/results/000055\\.swr$` });
    const response = await fetch(`${faulty.baseUrl}/v1/jobs/${id}/results?format=parquet&row_group_size=1024`);
    expect(response.status).toBe(200);
    const received: Uint8Array[] = [];
    const reading = (async () => {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) received.push(chunk);
    })();
    await expect(reading).rejects.toThrow();
    const bytes = Buffer.concat(received);
    expect(bytes.length).toBeGreaterThan(1024 * 32 * 4);
    expect(() => parquetFooterRows(bytes)).toThrow();

    // When the failure comes before the first row group is out, the client gets the error itself.
    const early = await stack.startApi({ SHARDWISE_FAULT_STORE_READ: 'always', SHARDWISE_FAULT_STORE_KEYS: `^jobs/${id}/results/000003\\.swr$` });
    const refused = await request(early.baseUrl, `/v1/jobs/${id}/results?format=parquet`);
    expect([refused.status, (refused.body as { error: { code: string } }).error.code]).toEqual([500, 'INTERNAL']);
  });
});
