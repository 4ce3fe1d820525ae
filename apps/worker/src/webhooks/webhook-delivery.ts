import { ATTEMPT_HEADER, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signWebhook, type WebhookDelivery } from '#shared';

/** Bytes of a receiver's answer read (and then dropped); its content is never used. */
const MAX_RESPONSE_BYTES = 64 * 1024;

export class WebhookHttpError extends Error {
  override readonly name = 'WebhookHttpError';
  constructor(readonly status: number) {
    super(`receiver answered HTTP ${status}`);
  }
}

/**
 * POSTs one delivery. Resolves on a 2xx answer; throws on anything else (other statuses, redirects
 * included, timeouts, network errors) so that BullMQ retries it with backoff.
 */
export async function deliverWebhook(delivery: WebhookDelivery, meta: { deliveryId: string; attempt: number; secret: string | undefined; timeoutMs: number }): Promise<number> {
  const headers: Record<string, string> = {
    'Content-Type': 'application/json',
    'User-Agent': 'shardwise-webhooks/1',
    [EVENT_HEADER]: delivery.event,
    [DELIVERY_HEADER]: meta.deliveryId,
    [ATTEMPT_HEADER]: String(meta.attempt),
  };
  // Signed per attempt: the timestamp is the time of sending, so receivers can refuse old replays.
  if (meta.secret) headers[SIGNATURE_HEADER] = signWebhook(meta.secret, delivery.body);
  const response = await fetch(delivery.url, {
    method: 'POST',
    headers,
    body: delivery.body,
    redirect: 'manual',
    signal: AbortSignal.timeout(meta.timeoutMs),
  });
  await drain(response);
  if (response.status < 200 || response.status > 299) throw new WebhookHttpError(response.status);
  return response.status;
}

async function drain(response: Response): Promise<void> {
  if (!response.body) return;
  const reader = response.body.getReader();
  let read = 0;
  try {
    while (read < MAX_RESPONSE_BYTES) {
      const { done, value } = await reader.read();
      if (done) return;
      read += value.byteLength;
    }
    await reader.cancel();
  } catch {
    // The answer's status is what counts; a body cut short does not matter.
  }
}
