import { Readable } from 'node:stream';

export interface JobView {
  id: string;
  state: 'queued' | 'running' | 'completed' | 'failed' | 'cancelled';
  task: string;
  model: string;
  counts: { total: number; succeeded: number; failed: number };
  shards: { total: number; done: number; failed: number };
  tokens_processed: number;
  truncated: number;
  dimensions: number | null;
  error: string | null;
  [key: string]: unknown;
}

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
  const lines = (function* () {
    let chunk = '';
    for (const item of items) {
      chunk += JSON.stringify(item) + '\n';
      if (chunk.length > 64 * 1024) {
        yield Buffer.from(chunk);
        chunk = '';
      }
    }
    if (chunk) yield Buffer.from(chunk);
  })();
  const response = await fetch(`${baseUrl}/v1/jobs?${new URLSearchParams(params)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: Readable.toWeb(Readable.from(lines)) as ReadableStream,
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
  const until = options.until ?? ((job) => ['completed', 'failed', 'cancelled'].includes(job.state));
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
