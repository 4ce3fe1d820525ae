import { Readable } from 'node:stream';
import { ndjsonChunks } from '../../libs/shared/src/corpus/ndjson-chunks.js';
import { TERMINAL_STATES } from '../../libs/shared/src/jobs/job-record.js';
import type { JobView } from '../../libs/shared/src/jobs/job-view.js';

export type { JobView };

export type ResultLine =
  | { id: string; index: number; embedding: number[]; truncated?: boolean }
  | { id: string; index: number; label: string; score: number; scores: Record<string, number>; truncated?: boolean }
  | { id: string; index: number; error: { code: string; message: string } };

/** Streams items as an NDJSON request body, the way a large upload arrives. */
export async function submitNdjson(
  baseUrl: string,
  params: Record<string, string>,
  items: Iterable<{ id?: string; text: string }>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}/v1/jobs?${new URLSearchParams(params)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: Readable.toWeb(Readable.from(ndjsonChunks(items, 64 * 1024))) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

export async function getJob(baseUrl: string, id: string): Promise<JobView> {
  const response = await fetch(`${baseUrl}/v1/jobs/${id}`);
  if (response.status !== 200) throw new Error(`GET job ${id}: ${response.status} ${await response.text()}`);
  return (await response.json()) as JobView;
}

export async function waitForJob(
  baseUrl: string,
  id: string,
  options: { timeoutMs?: number; until?: (job: JobView) => boolean } = {},
): Promise<JobView> {
  const until = options.until ?? ((job) => TERMINAL_STATES.includes(job.state));
  const deadline = Date.now() + (options.timeoutMs ?? 180_000);
  for (;;) {
    const job = await getJob(baseUrl, id);
    if (until(job)) return job;
    if (Date.now() > deadline) throw new Error(`job ${id} still ${job.state} (${JSON.stringify(job.shards)}) after timeout`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

export async function fetchResults(baseUrl: string, id: string, query = ''): Promise<ResultLine[]> {
  const response = await fetch(`${baseUrl}/v1/jobs/${id}/results${query}`);
  if (response.status !== 200) throw new Error(`GET results ${id}: ${response.status} ${await response.text()}`);
  const text = await response.text();
  return text
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as ResultLine);
}
