import { Inject, Injectable } from '@nestjs/common';
import { pipeline } from 'node:stream/promises';
import { RESULT_STORE, type JobRecord, type ResultPart, type ResultStore } from '../../../../libs/shared/src/index.js';
import type { ApiResponse } from '../http/request.types.js';

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
      if (!source) continue;
      try {
        await pipeline(source, res, { end: false });
      } catch (error) {
        source.destroy();
        if (res.destroyed) return;
        throw error;
      }
    }
    res.end();
  }
}
