import type { Logger } from '@nestjs/common';

const QUIET_MS = 30_000;

interface ErrorSource {
  on(event: 'error', listener: (error: Error) => void): unknown;
}

/**
 * Logs connection errors (ioredis retries on its own) without flooding the log while Redis is
 * away: the first error and then at most one every 30 s. Unlistened, they print as unhandled.
 */
export function logConnectionErrors(source: ErrorSource, name: string, logger: Logger): void {
  let lastLogged = 0;
  let suppressed = 0;
  source.on('error', (error: Error) => {
    const now = Date.now();
    if (now - lastLogged < QUIET_MS) {
      suppressed++;
      return;
    }
    const more = suppressed > 0 ? ` (${suppressed} similar errors since the last report)` : '';
    logger.warn(`${name}: ${error.message}${more}`);
    lastLogged = now;
    suppressed = 0;
  });
}
