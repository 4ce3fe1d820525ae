const CHECK_EVERY_MS = 100;

export interface ExitDeadline {
  /** The process exits this long after a signal once nothing is in flight, whatever the shutdown hooks still wait for. @defaultValue 3000 */
  idleMs?: number;
  /** And this long after the signal at the latest, in flight or not. @defaultValue no limit */
  latestMs?: number;
  /** True while work that the shutdown should let finish is in flight. */
  busy: () => boolean;
  /** Says why the process is exiting before its hooks finished. */
  log: (line: string) => void;
}

/**
 * Backs up Nest's shutdown hooks after SIGTERM or SIGINT: a hook waiting on a Redis that is down
 * (a QUIT, a BullMQ close) would otherwise keep an idle process, and its pod, alive for as long as
 * Redis stays away. Exits 1: the hooks did not all finish.
 */
export function exitWhenShutdownHangs({ idleMs = 3000, latestMs = Number.POSITIVE_INFINITY, busy, log }: ExitDeadline): void {
  const onSignal = (signal: NodeJS.Signals) => {
    const received = Date.now();
    let lastBusy = received;
    const timer = setInterval(() => {
      const now = Date.now();
      if (busy()) lastBusy = now;
      const reason = now - lastBusy >= idleMs ? `nothing in flight for ${idleMs} ms` : now - received >= latestMs ? `${latestMs} ms passed` : undefined;
      if (reason === undefined) return;
      clearInterval(timer);
      log(`shutdown (${signal}) still waiting after ${now - received} ms (${reason}; is Redis reachable?): exiting now`);
      process.exit(1);
    }, CHECK_EVERY_MS);
    timer.unref();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
