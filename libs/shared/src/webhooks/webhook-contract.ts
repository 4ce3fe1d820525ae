import { createHmac, timingSafeEqual } from 'node:crypto';
import type { JobsOptions } from 'bullmq';
import type { JobRecord, JobState } from '../jobs/job-record.js';
import { toJobView } from '../jobs/job-view.js';

/**
 * Job webhooks: when a job with a `callback_url` reaches a terminal state, whoever moved it there
 * (a worker counting the last shard, the API cancelling) adds one BullMQ job to the `webhooks`
 * queue; worker processes consume that queue and POST the job view to the URL, signed, retried
 * with exponential backoff. The API only ever produces: it never opens a BullMQ Worker.
 */
export const WEBHOOK_QUEUE = 'webhooks';

export type TerminalState = Extract<JobState, 'completed' | 'failed' | 'cancelled'>;
export type WebhookEvent = `job.${TerminalState}`;

export const SIGNATURE_HEADER = 'X-Shardwise-Signature';
export const EVENT_HEADER = 'X-Shardwise-Event';
export const DELIVERY_HEADER = 'X-Shardwise-Delivery';
export const ATTEMPT_HEADER = 'X-Shardwise-Attempt';

/** One delivery; `body` is the JSON text sent (the job view at the terminal transition), identical on every attempt. */
export interface WebhookDelivery {
  v: 1;
  jobId: string;
  event: WebhookEvent;
  url: string;
  body: string;
}

/** The delivery to `url` (the job's callbackUrl) of a job that reached `state`: its view, as GET /v1/jobs/:id shows it. */
export function webhookDelivery(job: JobRecord, url: string, state: TerminalState): WebhookDelivery {
  return { v: 1, jobId: job.id, event: `job.${state}`, url, body: JSON.stringify(toJobView(job)) };
}

/**
 * BullMQ options for adding `delivery`, the same for every producer (API, workers, the outbox sweep).
 * A job reaches one terminal state once, and the job id names that transition (`<jobId>-<state>`):
 * adding the same delivery twice (a retried enqueue, a racing caller) is a no-op while the first is kept.
 */
export function webhookJobOptions(delivery: WebhookDelivery, attempts: number, backoffMs: number): JobsOptions {
  return {
    jobId: `${delivery.jobId}-${delivery.event.slice('job.'.length)}`,
    attempts,
    backoff: { type: 'exponential', delay: backoffMs },
    // Kept a day so the deterministic id still deduplicates late duplicates, and failures can be inspected.
    removeOnComplete: { age: 24 * 3600 },
    removeOnFail: { age: 7 * 24 * 3600 },
  };
}

/** Only http and https URLs of reasonable length; returns the normalized URL or an error message. */
export function checkCallbackUrl(value: string): { url: string } | { error: string } {
  if (value.length > 2048) return { error: 'must be at most 2048 characters' };
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    return { error: 'must be an absolute http:// or https:// URL' };
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') return { error: `must use http or https, not ${parsed.protocol.replace(/:$/, '')}` };
  if (!parsed.hostname) return { error: 'must name a host' };
  return { url: parsed.toString() };
}

/**
 * `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">` (the scheme Stripe uses): the timestamp
 * is signed with the body, so a receiver can refuse replays older than a few minutes.
 */
export function signWebhook(secret: string, body: string, timestamp = Math.floor(Date.now() / 1000)): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `t=${timestamp},v1=${mac}`;
}

/** Receiver side (used by the tests; the docs show the same in a few lines of Python and Node). */
export function verifyWebhook(secret: string, body: string, header: string | null | undefined, toleranceSeconds = 300, now = Date.now()): boolean {
  if (!header) return false;
  const parts = new Map<string, string[]>();
  for (const item of header.split(',')) {
    const [key, value] = item.trim().split('=', 2);
    if (key && value) parts.set(key, [...(parts.get(key) ?? []), value]);
  }
  const t = Number(parts.get('t')?.[0]);
  if (!Number.isSafeInteger(t) || Math.abs(now / 1000 - t) > toleranceSeconds) return false;
  const expected = Buffer.from(createHmac('sha256', secret).update(`${t}.${body}`).digest('hex'));
  return (parts.get('v1') ?? []).some((candidate) => {
    const given = Buffer.from(candidate);
    return given.length === expected.length && timingSafeEqual(given, expected);
  });
}
