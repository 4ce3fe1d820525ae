import { Injectable } from '@nestjs/common';
import { once } from 'node:events';
import { taskModule } from '#models';
import { nanRows, ResultStore, type JobRecord, type ShardResult } from '#shared';
import type { ApiResponse } from '../http/request.types.js';
import { npyHeader } from './npy.js';
import { resultSchema, shardBatch, type ResultColumns } from './results-arrow.js';
import { PARQUET_MEDIA_TYPE, parquetBytes, rowGroupRows } from './results-parquet.js';

/** NaN rows are written in pieces of at most this many rows, so a failed shard never sits in memory whole. */
const NAN_CHUNK_ROWS = 1024;

/** Which shards of a job are written, with their item counts, as of one moment. */
interface WrittenShards {
  shards: Array<{ shard: number; items: number }>;
  items: number;
}

/**
 * Renders a job's stored shard results as the client asked, in shard order, one shard in memory at
 * a time, with backpressure: NDJSON lines (the float formatting happens here, not on workers),
 * the little-endian float32 rows as raw f32 or .npy, or Parquet. Shards not written (still
 * running, or cancelled) are skipped.
 */
@Injectable()
export class ResultsService {
  constructor(private readonly store: ResultStore) {}

  /** NDJSON: every result line, or only the error lines. Stops quietly when the client goes away. */
  async streamNdjson(job: JobRecord, part: 'results' | 'errors', res: ApiResponse): Promise<void> {
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/x-ndjson');
    for (const shard of await this.store.writtenShards(job.id)) {
      if (res.destroyed) return;
      const result = await this.store.readShard(job.id, shard);
      if (result === null) continue;
      if (!(await send(res, result.renderNdjson(part)))) return;
    }
    res.end();
  }

  /**
   * Embeddings as rows of little-endian float32 (`format=f32`, or a NumPy .npy file with its header):
   * the item count is taken from the shards written when the request came, and exactly those shards
   * are streamed after it, so the count always matches the data even for `?partial=true` while
   * shards keep landing. Failed items are NaN rows.
   */
  async streamEmbeddings(job: JobRecord, format: 'f32' | 'npy', res: ApiResponse): Promise<void> {
    const written = await this.written(job);
    const dims = job.dimensions ?? (await this.measureWidth(job, written)) ?? 0;
    res.statusCode = 200;
    if (dims > 0 || format === 'npy') res.setHeader('X-Embedding-Dimensions', String(dims));
    res.setHeader('X-Item-Count', String(written.items));
    if (format === 'npy') {
      const header = npyHeader(written.items, dims);
      res.setHeader('Content-Type', 'application/x-npy');
      res.setHeader('Content-Disposition', `attachment; filename="${job.id}.npy"`);
      res.setHeader('Content-Length', String(header.length + written.items * dims * 4));
      res.write(header);
    } else {
      res.setHeader('Content-Type', 'application/octet-stream');
      res.setHeader('Content-Length', String(written.items * dims * 4));
    }
    if (dims > 0) {
      for (const { shard, items } of written.shards) {
        if (res.destroyed) return;
        const rows = (await this.store.readShard(job.id, shard))?.embeddingRows() ?? null;
        if (rows !== null && rows.length === items * dims * 4) {
          if (!(await send(res, rows))) return;
          continue;
        }
        // Written without a known width (failed before its model loaded): NaN rows of the job's width.
        for (let done = 0; done < items && !res.destroyed; done += NAN_CHUNK_ROWS) {
          if (!(await send(res, nanRows(Math.min(NAN_CHUNK_ROWS, items - done), dims)))) return;
        }
      }
    }
    res.end();
  }

  /**
   * One Parquet file (columns in results-arrow.ts), row group by row group with backpressure, over
   * the shards written when the request came (as for f32). `rowGroupSize` can only lower the rows
   * per group that results-parquet.ts picks to bound memory.
   */
  async streamParquet(job: JobRecord, res: ApiResponse, rowGroupSize?: number): Promise<void> {
    const written = await this.written(job);
    const { output } = taskModule(job.task);
    const vectors = output === 'vector';
    // A JSON value has no width: measuring would read every shard for nothing.
    const width = output === 'json' ? 0 : ((vectors ? job.dimensions : null) ?? (await this.measureWidth(job, written)) ?? 0);
    const columns: ResultColumns = { task: job.task, dimensions: vectors ? width : 0, itemTokens: job.options.itemTokens === true };
    const schema = resultSchema(columns);
    const store = this.store;
    async function* batches() {
      for (const { shard } of written.shards) {
        const result = await store.readShard(job.id, shard);
        if (result !== null) yield shardBatch(schema, columns, result);
      }
    }
    // One key: parquet-wasm keeps key-value metadata in a hash map, and several keys would make the bytes differ between downloads.
    const metadata = new Map([['shardwise', JSON.stringify({ job_id: job.id, task: job.task, model: job.modelId })]]);
    for await (const chunk of parquetBytes(schema, batches(), { rowGroupRows: rowGroupRows(job.task, width, rowGroupSize), metadata })) {
      // Headers go with the first row group, so a shard that cannot be read before it is still a JSON error.
      if (!res.headersSent) {
        res.statusCode = 200;
        res.setHeader('Content-Type', PARQUET_MEDIA_TYPE);
        res.setHeader('Content-Disposition', `attachment; filename="${job.id}.parquet"`);
        res.setHeader('X-Item-Count', String(written.items));
        if (vectors) res.setHeader('X-Embedding-Dimensions', String(width));
      }
      if (!(await send(res, Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)))) return;
    }
    res.end();
  }

  /** Written shards and their item counts: one listing of the store and the job's manifest. */
  private async written(job: JobRecord): Promise<WrittenShards> {
    const [shards, manifest] = await Promise.all([this.store.writtenShards(job.id), this.store.readManifest(job.id)]);
    const out: WrittenShards = { shards: [], items: 0 };
    for (const shard of shards) {
      // One-shard jobs have no manifest: their shard holds every item.
      const items: number =
        manifest?.counts[shard] ?? (job.shardsTotal === 1 ? job.total : await this.store.readSummary(job.id, shard).then((s) => (s === null ? 0 : s.succeeded + s.failed)));
      out.shards.push({ shard, items });
      out.items += items;
    }
    return out;
  }

  /** Width of a job whose record has none (Hub models; sentiment: labels + 1): the first written shard that knows it. */
  private async measureWidth(job: JobRecord, written: WrittenShards): Promise<number | null> {
    for (const { shard, items } of written.shards) {
      if (items === 0) continue;
      const result: ShardResult | null = await this.store.readShard(job.id, shard);
      const width = result?.header.width ?? 0;
      if (width > 0) return width;
    }
    return null;
  }
}

/** Writes with backpressure; false when the client went away. */
async function send(res: ApiResponse, chunk: Buffer): Promise<boolean> {
  if (res.destroyed) return false;
  if (chunk.length === 0) return true;
  if (!res.write(chunk)) {
    // The listener that loses the race is removed, or every wait would leave one on the response.
    const waiting = new AbortController();
    await Promise.race([once(res, 'drain', { signal: waiting.signal }), once(res, 'close', { signal: waiting.signal })]).finally(() => waiting.abort());
  }
  return !res.destroyed;
}
