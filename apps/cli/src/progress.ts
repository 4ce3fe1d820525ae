import type { JobView } from './api-client.js';

const MAX_BAR = 30;
const MIN_BAR = 10;
const REDRAW_MS = 100;
const PLAIN_EVERY_MS = 5000;

const number = (n: number): string => n.toLocaleString('en-US');

export function duration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (v: number) => String(v).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`;
}

/**
 * The progress display on stderr: a redrawn bar on a terminal, or a plain line every few seconds
 * (and on state changes) when stderr is a file or pipe. Rate: the server's throughput while the
 * job runs, else measured here; time left = texts left / rate.
 */
export class ProgressBar {
  private lastDraw = 0;
  private lastPlain = 0;
  private lastState = '';
  private drawn = false;
  private samples: Array<{ t: number; done: number }> = [];

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    private readonly enabled = true,
  ) {}

  private get tty(): boolean {
    return Boolean(this.stream.isTTY);
  }

  /** Upload progress (bytes of the file read), before the job exists. */
  uploading(read: number, total: number): void {
    if (!this.enabled || !this.tty) return;
    const now = Date.now();
    if (now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    const ratio = total > 0 ? Math.min(read / total, 1) : 0;
    this.drawWithBar('uploading ', ratio, `  ${Math.floor(ratio * 100)}%  ${bytes(read)} of ${bytes(total)}`);
  }

  /** The body is sent; the API validates and enqueues it before it answers. */
  uploaded(total: number): void {
    if (!this.enabled || !this.tty) return;
    this.draw(`uploaded ${bytes(total)}; the API is validating and enqueueing it`);
  }

  update(job: JobView, force = false): void {
    if (!this.enabled) return;
    const now = Date.now();
    const done = job.counts.succeeded + job.counts.failed;
    this.samples.push({ t: now, done });
    while (this.samples.length > 2 && now - (this.samples[0] as { t: number }).t > 10_000) this.samples.shift();
    const stateChanged = job.state !== this.lastState;
    this.lastState = job.state;
    if (this.tty) {
      if (!force && !stateChanged && now - this.lastDraw < REDRAW_MS) return;
      this.lastDraw = now;
      const [before, ratio, after] = this.parts(job, done);
      this.drawWithBar(before, ratio, after);
    } else if (force || stateChanged || now - this.lastPlain >= PLAIN_EVERY_MS) {
      this.lastPlain = now;
      const [before, ratio, after] = this.parts(job, done);
      this.stream.write(`${before}${this.bar(ratio, MAX_BAR - 2)}${after}\n`);
    }
  }

  /** Leaves the last bar on its own line. */
  finish(): void {
    if (this.drawn && this.tty) this.stream.write('\n');
    this.drawn = false;
  }

  private rate(job: JobView, done: number): number | null {
    const server = job.throughput?.texts_per_second ?? null;
    if (job.state === 'running' && server !== null && server > 0) return server;
    const first = this.samples[0];
    if (first === undefined || done <= first.done) return server && server > 0 ? server : null;
    const seconds = (Date.now() - first.t) / 1000;
    return seconds > 0 ? (done - first.done) / seconds : null;
  }

  /** The text before the bar, the done ratio, the text after it. */
  private parts(job: JobView, done: number): [string, number, string] {
    const total = job.counts.total;
    const ratio = total > 0 ? done / total : 0;
    const rate = this.rate(job, done);
    const left = rate && rate > 0 ? duration((total - done) / rate) : '--:--';
    const failed = job.counts.failed > 0 ? `, ${number(job.counts.failed)} failed` : '';
    const eta = job.state === 'running' || job.state === 'queued' ? `  ${left} left` : '';
    return [
      `${job.state.padEnd(9)} `,
      ratio,
      ` ${String(Math.floor(ratio * 100)).padStart(3)}%  ${number(done)}/${number(total)} texts${failed}  ${rate === null ? '-' : number(Math.round(rate))}/s${eta}`,
    ];
  }

  /** The bar takes the width the terminal has left (between MIN_BAR and MAX_BAR). */
  private drawWithBar(before: string, ratio: number, after: string): void {
    const columns = this.stream.columns || 100;
    const inner = Math.max(MIN_BAR, Math.min(MAX_BAR, columns - 1 - before.length - after.length - 2));
    this.draw(`${before}${this.bar(ratio, inner)}${after}`);
  }

  private bar(ratio: number, width: number): string {
    const filled = Math.round(Math.min(Math.max(ratio, 0), 1) * width);
    return this.tty ? `[${'█'.repeat(filled)}${'░'.repeat(width - filled)}]` : `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
  }

  private draw(text: string): void {
    const width = this.stream.columns || 120;
    this.stream.write(`\r${text.slice(0, width - 1)}\x1b[K`);
    this.drawn = true;
  }
}
