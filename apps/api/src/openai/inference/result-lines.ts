import type { JobRecord, ResultStore } from '../../../../../libs/shared/src/index.js';
import { readNdjsonLines } from '../../ingest/ndjson-line-reader.js';
import type { ResultLine } from './openai-response.js';

/** No real result line comes near this; it only bounds a corrupt file. */
const MAX_RESULT_LINE_BYTES = 64 * 1024 * 1024;

/**
 * A job's result lines in input order (shards in order, lines in order within each), one line in
 * memory at a time. Shards never written (cancelled, or still running) are skipped: callers see
 * the gap in `index`.
 */
export async function* readResultLines(store: ResultStore, job: Pick<JobRecord, 'id' | 'shardsTotal'>): AsyncGenerator<ResultLine> {
  for (let shard = 0; shard < job.shardsTotal; shard++) {
    const source = await store.openShard(job.id, shard, 'results');
    if (!source) continue;
    try {
      for await (const { text } of readNdjsonLines(source, MAX_RESULT_LINE_BYTES)) yield JSON.parse(text) as ResultLine;
    } finally {
      source.destroy();
    }
  }
}
