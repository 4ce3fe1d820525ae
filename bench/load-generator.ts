/**
 * The load generator behind `npm run bench:load` (bench/load.ts) and its smoke test
 * (test/reliability/load-smoke.test.ts): concurrent job submissions and status polls against an API
 * on loopback for a bounded time and count, then a check that every accepted job finished with
 * exactly one line per input. It refuses any address but loopback.
 */
import { performance } from 'node:perf_hooks';
import { TERMINAL_STATES, type JobView } from '#shared';

export interface LoadOptions {
  /** http://127.0.0.1:PORT (loopback only). */
  baseUrl: string;
  /** How long submissions and polls run. */
  durationMs: number;
  /** Upper bound on submissions, whatever the duration. */
  maxJobs: number;
  /** Concurrent submitting clients. */
  submitters: number;
  /** Concurrent status-polling clients. */
  pollers: number;
  textsPerJob: number;
  model?: string;
  /** Bearer key, when the API has auth on. */
  key?: string;
  /** How long to wait for accepted jobs to finish after the load phase. */
  drainTimeoutMs?: number;
}

export interface LatencySummary {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  /** Replies by status code. */
  statuses: Record<string, number>;
  /** Requests that got no HTTP reply at all. */
  networkErrors: number;
}

export interface LoadReport {
  durationMs: number;
  submit: LatencySummary;
  poll: LatencySummary;
  accepted: number;
  /** 429s by error code (BACKLOG_FULL, RATE_LIMITED, TOO_MANY_JOBS): refused, not lost. */
  refused: Record<string, number>;
  completed: number;
  unfinished: number;
  inputs: number;
  lost: number;
  duplicated: number;
  misplaced: number;
  drainMs: number;
}

interface Accepted {
  id: string;
  ids: string[];
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] as number;
}

class Recorder {
  private readonly ms: number[] = [];
  private readonly statuses: Record<string, number> = {};
  private networkErrors = 0;

  record(ms: number, status: number | null): void {
    if (status === null) {
      this.networkErrors++;
      return;
    }
    this.ms.push(ms);
    this.statuses[status] = (this.statuses[status] ?? 0) + 1;
  }

  summary(): LatencySummary {
    const sorted = [...this.ms].sort((a, b) => a - b);
    const round = (n: number) => Math.round(n * 10) / 10;
    return {
      count: sorted.length,
      p50: round(percentile(sorted, 0.5)),
      p90: round(percentile(sorted, 0.9)),
      p99: round(percentile(sorted, 0.99)),
      max: round(sorted[sorted.length - 1] ?? 0),
      statuses: this.statuses,
      networkErrors: this.networkErrors,
    };
  }
}

export async function runLoad(options: LoadOptions): Promise<LoadReport> {
  const url = new URL(options.baseUrl);
  if (!LOOPBACK.has(url.hostname)) throw new Error(`load tests only run against loopback; got ${url.hostname}`);
  const headers: Record<string, string> = options.key ? { authorization: `Bearer ${options.key}` } : {};
  const submits = new Recorder();
  const polls = new Recorder();
  const accepted: Accepted[] = [];
  const refused: Record<string, number> = {};
  const started = performance.now();
  const deadline = started + options.durationMs;
  let issued = 0;

  const timed = async (recorder: Recorder, input: string, init: RequestInit): Promise<{ status: number; body: string } | null> => {
    const t0 = performance.now();
    try {
      const response = await fetch(input, { ...init, signal: AbortSignal.timeout(30_000) });
      const body = await response.text();
      recorder.record(performance.now() - t0, response.status);
      return { status: response.status, body };
    } catch {
      recorder.record(performance.now() - t0, null);
      return null;
    }
  };

  const submitter = async (worker: number): Promise<void> => {
    while (performance.now() < deadline && issued < options.maxJobs) {
      const n = issued++;
      const ids = Array.from({ length: options.textsPerJob }, (_, i) => `w${worker}-j${n}-${i}`);
      const inputs = ids.map((id, i) => ({ id, text: `load test job ${n}, text ${i}: the worker embeds a short sentence about queues and shards` }));
      const reply = await timed(submits, `${options.baseUrl}/v1/jobs`, {
        method: 'POST',
        headers: { ...headers, 'content-type': 'application/json' },
        body: JSON.stringify({ task: 'embed', model: options.model, inputs }),
      });
      if (reply?.status === 202) {
        accepted.push({ id: (JSON.parse(reply.body) as { id: string }).id, ids });
      } else if (reply?.status === 429) {
        const code = (JSON.parse(reply.body) as { error: { code: string } }).error.code;
        refused[code] = (refused[code] ?? 0) + 1;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };

  const poller = async (): Promise<void> => {
    let i = 0;
    while (performance.now() < deadline) {
      const job = accepted[accepted.length - 1 - (i++ % Math.max(1, Math.min(accepted.length, 50)))];
      if (job === undefined) {
        await new Promise((r) => setTimeout(r, 10));
        continue;
      }
      await timed(polls, `${options.baseUrl}/v1/jobs/${job.id}`, { headers });
    }
  };

  await Promise.all([...Array.from({ length: options.submitters }, (_, w) => submitter(w)), ...Array.from({ length: options.pollers }, () => poller())]);
  const loadMs = performance.now() - started;

  // Drain: every accepted job must finish, with one line per input.
  const drainStarted = performance.now();
  const drainDeadline = drainStarted + (options.drainTimeoutMs ?? 120_000);
  const pending = new Set(accepted.map((job) => job.id));
  while (pending.size > 0 && performance.now() < drainDeadline) {
    for (const id of [...pending]) {
      const response = await fetch(`${options.baseUrl}/v1/jobs/${id}`, { headers }).catch(() => null);
      if (!response) continue;
      const view = (await response.json()) as Pick<JobView, 'state'>;
      if (TERMINAL_STATES.includes(view.state)) pending.delete(id);
    }
    if (pending.size > 0) await new Promise((r) => setTimeout(r, 200));
  }
  const drainMs = performance.now() - drainStarted;

  let inputs = 0;
  let lost = 0;
  let duplicated = 0;
  let misplaced = 0;
  for (const job of accepted) {
    inputs += job.ids.length;
    if (pending.has(job.id)) {
      lost += job.ids.length;
      continue;
    }
    const text = await (await fetch(`${options.baseUrl}/v1/jobs/${job.id}/results`, { headers })).text();
    const seen = new Map<string, number>();
    const lines = text.split('\n').filter((l) => l !== '');
    lines.forEach((line, position) => {
      const { id, index } = JSON.parse(line) as { id: string; index: number };
      seen.set(id, (seen.get(id) ?? 0) + 1);
      if (job.ids[index] !== id || index !== position) misplaced++;
    });
    for (const id of job.ids) {
      const n = seen.get(id) ?? 0;
      if (n === 0) lost++;
      if (n > 1) duplicated++;
    }
  }
  return {
    durationMs: Math.round(loadMs),
    submit: submits.summary(),
    poll: polls.summary(),
    accepted: accepted.length,
    refused,
    completed: accepted.length - pending.size,
    unfinished: pending.size,
    inputs,
    lost,
    duplicated,
    misplaced,
    drainMs: Math.round(drainMs),
  };
}
