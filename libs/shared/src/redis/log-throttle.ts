/**
 * Keeps a Redis outage from flooding the log: ioredis and BullMQ report every reconnect attempt
 * (several a second). The first message is written, then at most one every `quietMs`, with a count
 * of those held back. Callers still see every error (for metrics); only the log line is throttled.
 */
export class LogThrottle {
  private lastLogged = 0;
  private suppressed = 0;

  constructor(private readonly quietMs = 30_000) {}

  log(message: string, write: (line: string) => void, now = Date.now()): void {
    if (now - this.lastLogged < this.quietMs) {
      this.suppressed++;
      return;
    }
    const more = this.suppressed > 0 ? ` (${this.suppressed} similar errors since the last report)` : '';
    write(`${message}${more}`);
    this.lastLogged = now;
    this.suppressed = 0;
  }
}
