import { Inject, Injectable } from '@nestjs/common';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { RESULT_STORE, type JobRecord, type ResultPart, type ResultStore } from '../../../../libs/shared/src/index.js';
import type { ApiResponse } from '../http/request.types.js';
import { nanRows, npyHeader } from './npy.js';

/** NaN rows are written in pieces of at most this many rows, so a failed shard never sits in memory whole. */
const NAN_CHUNK_ROWS = 1024;

/** Streams a job's shard files from the result store, in shard order, with backpressure. */
@Injectable()
export class ResultsService {
  constructor(@Inject(RESULT_STORE) private readonly store: ResultStore) {}

  /** Items in the shards written so far, read from their summaries (the worker writes one per shard). */
  async writtenItemCount(job: JobRecord): Promise<number> {
    let items = 0;
    for (let shard = 0; shard < job.shardsTotal; shard++) {
      const summary = await this.store.readSummary(job.id, shard);
      if (summary) items += summary.succeeded + summary.failed;
    }
    return items;
  }

  /**
   * Pipes each written shard's part into the response and ends it. Shards not written (still
   * running, failed, cancelled) are skipped. Stops quietly when the client goes away.
   */
  async stream(job: JobRecord, part: ResultPart, res: ApiResponse): Promise<void> {
    for (let shard = 0; shard < job.shardsTotal; shard++) {
      if (res.destroyed) return;
      const source = await this.store.openShard(job.id, shard, part);
      if (source && !(await pipeShard(source, res))) return;
    }
    res.end();
  }

  /**
   * Embeddings as a NumPy .npy file (`<f4`, shape `(items, dimensions)`): the header is computed
   * from the shards written when the request came, and exactly those shards are streamed after it,
   * so the header always matches the data even for `?partial=true` while shards keep landing.
   * A written shard without an embeddings file (failed before its width was known) becomes NaN rows.
   */
  async streamNpy(job: JobRecord, res: ApiResponse): Promise<void> {
    const shards: Array<{ shard: number; items: number }> = [];
    for (let shard = 0; shard < job.shardsTotal; shard++) {
      const summary = await this.store.readSummary(job.id, shard);
      if (summary) shards.push({ shard, items: summary.succeeded + summary.failed });
    }
    const items = shards.reduce((sum, s) => sum + s.items, 0);
    const dims = job.dimensions ?? (await this.measureWidth(job, shards)) ?? 0;
    const header = npyHeader(items, dims);
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/x-npy');
    res.setHeader('Content-Disposition', `attachment; filename="${job.id}.npy"`);
    res.setHeader('Content-Length', String(header.length + items * dims * 4));
    res.setHeader('X-Embedding-Dimensions', String(dims));
    res.setHeader('X-Item-Count', String(items));
    res.write(header);
    if (dims > 0) {
      for (const { shard, items: rows } of shards) {
        if (res.destroyed) return;
        const source = await this.store.openShard(job.id, shard, 'embeddings');
        if (source) {
          if (!(await pipeShard(source, res))) return;
          continue;
        }
        for (let done = 0; done < rows && !res.destroyed; done += NAN_CHUNK_ROWS) {
          if (!res.write(nanRows(Math.min(NAN_CHUNK_ROWS, rows - done), dims))) await once(res, 'drain');
        }
      }
    }
    res.end();
  }

  /** Width of a job whose record has none (Hub models): bytes of the first stored embeddings file over its rows. */
  private async measureWidth(job: JobRecord, shards: ReadonlyArray<{ shard: number; items: number }>): Promise<number | null> {
    for (const { shard, items } of shards) {
      if (items === 0) continue;
      const source = await this.store.openShard(job.id, shard, 'embeddings');
      if (!source) continue;
      let bytes = 0;
      for await (const chunk of source) bytes += (chunk as Buffer).length;
      return bytes / 4 / items;
    }
    return null;
  }
}

/** Copies one shard's file into the response; false when the client went away mid-copy. */
async function pipeShard(source: Readable, res: ApiResponse): Promise<boolean> {
  try {
    await pipeline(source, res, { end: false });
    return true;
  } catch (error) {
    source.destroy();
    if (res.destroyed) return false;
    throw error;
  }
}
