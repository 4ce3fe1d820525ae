import type { JobRecord } from '../jobs/job-record.js';
import type { ResultStore } from '../storage/result-store.js';
import type { ResultLine } from './result-lines.js';

/**
 * A job's result lines in input order (shards in order, lines in order within each), one shard in
 * memory at a time, decoded from the stored binary results without formatting them as text. Shards
 * never written (cancelled, or still running) are skipped: callers see the gap in `index`.
 */
export async function* readResultLines(store: ResultStore, job: Pick<JobRecord, 'id'>): AsyncGenerator<ResultLine> {
  for (const shard of await store.writtenShards(job.id)) {
    const result = await store.readShard(job.id, shard);
    if (result !== null) yield* result.lines();
  }
}
