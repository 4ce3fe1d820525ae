/**
 * Every object-store key of a job or file lives here, so nothing else spells them:
 *
 *   jobs/<jobId>/input.ndjson          the corpus of a job submitted with a body (stored once)
 *   jobs/<jobId>/manifest.json         items per shard, written when the job is accepted
 *   jobs/<jobId>/duplicates.bin        dedup: items whose text appeared in an earlier shard (duplicate-refs.ts)
 *   jobs/<jobId>/results/<shard>.swr   one shard's output (libs/shared/src/results/shard-result.ts)
 *   files/<fileId>                     OpenAI-compatible files: batch inputs and outputs
 *
 * Everything else in the store belongs to its users: `POST /v1/jobs` may name such an object as a
 * corpus (`input_object`). The two prefixes above are the system's own and cannot be named.
 */
export const RESERVED_PREFIXES = ['jobs/', 'files/'] as const;

export const jobPrefix = (jobId: string): string => `jobs/${jobId}/`;
export const jobInputKey = (jobId: string): string => `jobs/${jobId}/input.ndjson`;
export const jobManifestKey = (jobId: string): string => `jobs/${jobId}/manifest.json`;
export const jobDuplicatesKey = (jobId: string): string => `jobs/${jobId}/duplicates.bin`;
export const jobResultsPrefix = (jobId: string): string => `jobs/${jobId}/results/`;
/** Zero-padded so that listing the results prefix returns shards in order. */
export const shardResultKey = (jobId: string, shard: number): string => `jobs/${jobId}/results/${String(shard).padStart(6, '0')}.swr`;
export const fileKey = (fileId: string): string => `files/${fileId}`;

/** The shard index of a key under jobResultsPrefix, or null for anything else. */
export function shardOfResultKey(key: string): number | null {
  const match = /\/results\/(\d{6,})\.swr$/.exec(key);
  return match ? Number(match[1]) : null;
}

/** The job id of a key under `jobs/`, or null. */
export function jobOfKey(key: string): string | null {
  const match = /^jobs\/([^/]+)\//.exec(key);
  return match ? (match[1] as string) : null;
}

/** What the manifest holds: the item count of every shard, in order (shard k starts at the sum of the counts before it). */
export interface JobManifest {
  v: 1;
  counts: number[];
}
