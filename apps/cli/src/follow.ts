import { apiError, TERMINAL, type ApiClient, type JobView } from './api-client.js';
import { CliError, ExitCode } from './exit-codes.js';
import { parseSse } from './sse.js';

const TERMINAL_EVENTS = new Set<string>(TERMINAL);
/** How long polling waits for an API that cannot be reached before giving up (exit 5). */
const UNREACHABLE_GRACE_MS = 60_000;

/**
 * Follows a job until it is completed, failed or cancelled, calling `onUpdate` with each view.
 * Live: GET /v1/jobs/:id/events (server-sent events). When that endpoint is missing (an older API)
 * or the stream breaks off before the end, it falls back to polling GET /v1/jobs/:id.
 */
export async function followJob(client: ApiClient, id: string, onUpdate: (job: JobView) => void, pollMs = 1000): Promise<JobView> {
  const contact = { reached: false };
  const live = await followEvents(client, id, onUpdate, contact).catch((error: unknown) => {
    // An unknown job is an answer, not a reason to poll.
    if (error instanceof CliError && error.details.code === 'JOB_NOT_FOUND') throw error;
    return null;
  });
  if (live !== null) return live;
  let unreachableSince: number | null = null;
  for (;;) {
    let job: JobView;
    try {
      job = await client.getJob(id);
      contact.reached = true;
      unreachableSince = null;
    } catch (error) {
      // An API that restarts (a rolling deploy) is waited for a while; the job goes on meanwhile.
      if (!(error instanceof CliError) || error.exitCode !== ExitCode.Unavailable || !contact.reached) throw error;
      unreachableSince ??= Date.now();
      if (Date.now() - unreachableSince > UNREACHABLE_GRACE_MS) throw error;
      await new Promise((r) => setTimeout(r, pollMs));
      continue;
    }
    onUpdate(job);
    if (TERMINAL.includes(job.state)) return job;
    await new Promise((r) => setTimeout(r, pollMs));
  }
}

/** The terminal view from the event stream, or null when the stream could not tell it. */
async function followEvents(client: ApiClient, id: string, onUpdate: (job: JobView) => void, contact: { reached: boolean }): Promise<JobView | null> {
  const response = await client.fetch(client.url(`v1/jobs/${encodeURIComponent(id)}/events`), { headers: { Accept: 'text/event-stream' } });
  contact.reached = true;
  if (!response.ok) {
    const text = await response.text().catch(() => '');
    if (text.includes('"JOB_NOT_FOUND"')) throw apiError(response.status, text);
    return null;
  }
  if (!(response.headers.get('content-type') ?? '').startsWith('text/event-stream') || response.body === null) return null;
  for await (const event of parseSse(response.body)) {
    if (event.event !== 'job' && event.event !== 'progress' && !TERMINAL_EVENTS.has(event.event)) continue;
    const job = JSON.parse(event.data) as JobView;
    onUpdate(job);
    if (TERMINAL_EVENTS.has(event.event)) return job;
  }
  return null;
}
