/**
 * What one worker did recently: when it was busy (at least one shard in flight) and the tokens of
 * the shards it finished. Busy time is the union of shard intervals, so two shards at once count
 * once: tokens / busy seconds is what this worker finishes per second while it has work, its
 * capacity, whatever the queue looked like. Times are milliseconds (performance.now() or Date.now()).
 */
export interface ActivitySnapshot {
  /** Tokens of the shards finished within the window. */
  tokens: number;
  /** Busy seconds within the window. */
  busySeconds: number;
  /** The window's length (shorter while the process is younger than the window). */
  windowSeconds: number;
}

export class ActivityWindow {
  private inFlight = 0;
  private busySince: number | null = null;
  /** Closed busy intervals, oldest first. */
  private readonly intervals: Array<[start: number, end: number]> = [];
  /** Finished-shard token credits, oldest first. */
  private readonly credits: Array<[at: number, tokens: number]> = [];
  private closedBusyMs = 0;

  constructor(
    readonly windowMs: number,
    private readonly startedAt: number,
  ) {}

  get shardsInFlight(): number {
    return this.inFlight;
  }

  start(now: number): void {
    if (this.inFlight++ === 0) this.busySince = now;
  }

  end(now: number): void {
    if (this.inFlight === 0) return;
    if (--this.inFlight === 0 && this.busySince !== null) {
      this.intervals.push([this.busySince, now]);
      this.closedBusyMs += now - this.busySince;
      this.busySince = null;
    }
  }

  credit(now: number, tokens: number): void {
    if (tokens > 0) this.credits.push([now, tokens]);
  }

  /** Busy seconds since the process started (for a counter). */
  totalBusySeconds(now: number): number {
    return (this.closedBusyMs + (this.busySince === null ? 0 : now - this.busySince)) / 1000;
  }

  snapshot(now: number): ActivitySnapshot {
    const from = now - this.windowMs;
    while (this.intervals.length > 0 && (this.intervals[0] as [number, number])[1] <= from) this.intervals.shift();
    while (this.credits.length > 0 && (this.credits[0] as [number, number])[0] < from) this.credits.shift();
    let busyMs = 0;
    for (const [start, end] of this.intervals) busyMs += end - Math.max(start, from);
    if (this.busySince !== null) busyMs += now - Math.max(this.busySince, from);
    let tokens = 0;
    for (const [, t] of this.credits) tokens += t;
    return { tokens, busySeconds: busyMs / 1000, windowSeconds: Math.min(this.windowMs, Math.max(0, now - this.startedAt)) / 1000 };
  }
}
