import type { RecordBatch } from 'apache-arrow';
import { describe, expect, it } from 'vitest';
import { decodeShardResult, ShardResultWriter, type ShardResult } from '#shared';
import { expectedRow, readParquetResults } from '../../../../test/support/parquet-results.js';
import { ParquetFooterError, parquetFooterRows } from './parquet-footer.js';
import { resultSchema, shardBatch, type ResultColumns } from './results-arrow.js';
import { MIN_ROW_GROUP_ROWS, parquetBytes, rowGroupRows } from './results-parquet.js';

/** Shard results built in memory, written as Parquet and read back with hyparquet. */
const TOO_LONG = { code: 'TEXT_TOO_LONG', message: 'text is 900 tokens, the model takes 512' };

function embedShard(start: number, count: number, dimensions: number): ShardResult {
  const writer = new ShardResultWriter({ task: 'embed', start, count, ids: Array.from({ length: count }, (_, i) => `doc-${start + i}`), dimensions, itemTokens: true });
  for (let i = 0; i < count; i++) {
    if ((start + i) % 5 === 1) writer.setError(i, TOO_LONG, 900);
    else
      writer.setEmbedding(
        i,
        Array.from({ length: dimensions }, (_, j) => (j === 0 ? -0 : Math.sin(start + i + j / 7) / 3)),
        { tokens: 3 + i, truncated: i % 4 === 2 },
      );
  }
  return decodeShardResult(writer.finish());
}

/** A shard that failed before its model loaded: ids and width unknown. */
function failedShard(start: number, count: number): ShardResult {
  const writer = new ShardResultWriter({ task: 'embed', start, count, ids: 'unknown' });
  for (let i = 0; i < count; i++) writer.setError(i, { code: 'SHARD_FAILED', message: 'model failed to load' });
  return decodeShardResult(writer.finish());
}

function sentimentShard(start: number, count: number): ShardResult {
  const writer = new ShardResultWriter({ task: 'sentiment', start, count, ids: Array.from({ length: count }, (_, i) => String(start + i)), labels: ['NEGATIVE', 'POSITIVE'] });
  for (let i = 0; i < count; i++) {
    const p = Math.fround(0.5 + i / 100);
    // Top label first, then the scores in the order a top_k of 2 prints them.
    if (i === 1) writer.setError(i, TOO_LONG);
    else writer.setClassification(i, { label: 'POSITIVE', score: p, scores: { POSITIVE: p, NEGATIVE: 1 - p }, tokens: 4, truncated: false });
  }
  return decodeShardResult(writer.finish());
}

async function render(columns: ResultColumns, shards: ShardResult[], rows: number, options: { failAfter?: number; take?: number; into?: Uint8Array[] } = {}) {
  const schema = resultSchema(columns);
  let read = 0;
  async function* batches(): AsyncGenerator<RecordBatch> {
    for (const shard of shards) {
      if (read === options.failAfter) throw new Error('the store went away');
      read++;
      yield shardBatch(schema, columns, shard);
    }
  }
  const chunks = options.into ?? [];
  for await (const chunk of parquetBytes(schema, batches(), { rowGroupRows: rows, metadata: new Map([['shardwise.job_id', 'job_x']]) })) {
    chunks.push(chunk);
    if (chunks.length === options.take) break;
  }
  return { file: Buffer.concat(chunks), chunks: chunks.length, read: () => read };
}

describe('Parquet results', () => {
  it('writes embeddings, failed items and unknown ids as the NDJSON lines say, in row groups of the asked size', async () => {
    const shards = [embedShard(0, 6, 5), failedShard(6, 3), embedShard(9, 4, 5)];
    const columns: ResultColumns = { task: 'embed', dimensions: 5, itemTokens: true };
    const { file } = await render(columns, shards, 4);
    const parquet = await readParquetResults(file);
    expect(parquet.columns).toEqual(['id', 'index', 'embedding', 'truncated', 'tokens', 'error_code', 'error_message']);
    expect(parquet.rowGroups).toEqual([4, 4, 4, 1]);
    expect(parquet.metadata).toEqual({ 'shardwise.job_id': 'job_x' });
    const lines = shards.flatMap((shard) => [...shard.lines()]);
    expect(parquet.rows).toEqual(lines.map((line) => expectedRow(line, columns)));
    expect(parquet.rows[6]).toMatchObject({ id: null, embedding: null, error_code: 'SHARD_FAILED' });
    // The stored bits, not the printed decimals: NDJSON prints -0 as 0, Parquet keeps it.
    const { parquetReadObjects } = await import('hyparquet');
    const raw = await parquetReadObjects({ file: file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer, columns: ['embedding'] });
    expect(Object.is((raw[0]!.embedding as number[])[0], -0)).toBe(true);
  });

  it('writes sentiment labels, scores in line order and errors', async () => {
    const shards = [sentimentShard(0, 3), sentimentShard(3, 2)];
    const columns: ResultColumns = { task: 'sentiment', dimensions: 0, itemTokens: false };
    const parquet = await readParquetResults((await render(columns, shards, 1024)).file);
    expect(parquet.columns).toEqual(['id', 'index', 'label', 'score', 'scores', 'truncated', 'error_code', 'error_message']);
    expect(parquet.rows).toEqual(shards.flatMap((shard) => [...shard.lines()]).map((line) => expectedRow(line, columns)));
    expect(parquet.rows[0]?.scores).toEqual([
      ['POSITIVE', 0.5],
      ['NEGATIVE', 0.5],
    ]);
  });

  it('writes a valid empty file for a job with no written shard, and a job whose width is unknown', async () => {
    expect(parquetFooterRows((await render({ task: 'embed', dimensions: 8, itemTokens: false }, [], 1024)).file)).toBe(0);
    const unknown = await readParquetResults((await render({ task: 'embed', dimensions: 0, itemTokens: false }, [failedShard(0, 2)], 1024)).file);
    expect(unknown.rows.map((row) => [row.embedding, row.error_code])).toEqual([
      [null, 'SHARD_FAILED'],
      [null, 'SHARD_FAILED'],
    ]);
  });

  it('never ends the file when a shard cannot be read: the error surfaces and the footer is not sent', async () => {
    const shards = Array.from({ length: 6 }, (_, s) => embedShard(s * 500, 500, 16));
    const chunks: Uint8Array[] = [];
    await expect(render({ task: 'embed', dimensions: 16, itemTokens: true }, shards, 1000, { failAfter: 4, into: chunks })).rejects.toThrow('the store went away');
    // Row groups before the failure went out, but they are no Parquet file.
    expect(chunks.length).toBeGreaterThan(0);
    expect(() => parquetFooterRows(Buffer.concat(chunks))).toThrow(ParquetFooterError);
  });

  it('refuses a batch of another schema instead of letting parquet-wasm drop it', async () => {
    const columns: ResultColumns = { task: 'embed', dimensions: 16, itemTokens: false };
    const schema = resultSchema(columns);
    const wrongWidth = { ...columns, dimensions: 8 };
    async function* batches(): AsyncGenerator<RecordBatch> {
      yield shardBatch(schema, columns, embedShard(0, 3, 16));
      yield shardBatch(resultSchema(wrongWidth), wrongWidth, embedShard(3, 3, 8));
    }
    const chunks: Uint8Array[] = [];
    const writing = (async () => {
      for await (const chunk of parquetBytes(schema, batches(), { rowGroupRows: 1024, metadata: new Map() })) chunks.push(chunk);
    })();
    await expect(writing).rejects.toThrow('a batch of results does not have the schema of the file');
    expect(chunks).toEqual([]);
  });

  it('stops reading shards when the client goes away', async () => {
    const shards = Array.from({ length: 40 }, (_, s) => embedShard(s * 500, 500, 16));
    const { chunks, read } = await render({ task: 'embed', dimensions: 16, itemTokens: false }, shards, 1000, { take: 1 });
    expect(chunks).toBe(1);
    expect(read()).toBeLessThan(10);
  });

  it('sizes row groups to about 8 MiB, never under the minimum, lower only when asked', () => {
    expect(rowGroupRows('embed', 384)).toBe(Math.floor((8 * 1024 * 1024) / (48 + 4 * 384)));
    expect(rowGroupRows('embed', 384, 2000)).toBe(2000);
    expect(rowGroupRows('embed', 384, 1_000_000)).toBe(rowGroupRows('embed', 384));
    expect(rowGroupRows('embed', 100_000)).toBe(MIN_ROW_GROUP_ROWS);
    expect(rowGroupRows('sentiment', 3)).toBe(Math.floor((8 * 1024 * 1024) / (64 + 24 * 4)));
  });
});
