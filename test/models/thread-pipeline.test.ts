/**
 * ThreadScheduler's pipelining, with a stand-in thread script instead of ONNX Runtime: each thread
 * is sent its next job before it answers the current one (so it never idles waiting for a busy main
 * thread), lone jobs go to idle threads first, and a thread never gets more than the depth.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { THREAD_PIPELINE_DEPTH, ThreadScheduler } from '../../libs/models/src/thread-scheduler.js';
import type { ThreadConfig } from '../../libs/models/src/thread-protocol.js';

// Holds each job's reply until the next job has arrived (or 1.5 s passed), then reports what it saw.
const FAKE_THREAD = `
import { parentPort, threadId } from 'node:worker_threads';
let held = null;
let received = 0;
let maxUnanswered = 0;
const answer = (job, sawNext) => {
  parentPort.postMessage({ type: 'reply', id: job.envelope.id, ok: true, result: { threadId, sawNext, maxUnanswered } });
};
parentPort.on('message', (envelope) => {
  received++;
  const unanswered = held ? 2 : 1;
  maxUnanswered = Math.max(maxUnanswered, unanswered);
  if (held) { clearTimeout(held.timer); answer(held, true); held = null; }
  if (envelope.request.type === 'dispose') { parentPort.postMessage({ type: 'reply', id: envelope.id, ok: true, result: null }); return; }
  const job = { envelope };
  job.timer = setTimeout(() => { held = null; answer(job, false); }, 1500);
  held = job;
});
parentPort.postMessage({ type: 'ready' });
`;

let dir: string;
let scheduler: ThreadScheduler | undefined;
const config = { intraOpThreads: 1, device: 'cpu', dtype: 'fp32' } as ThreadConfig;
const job = () => ({ type: 'tokenize' as const, model: { modelId: 'fake', task: 'embed' as const }, texts: ['x'], truncate: true });
type Seen = { threadId: number; sawNext: boolean; maxUnanswered: number };

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sw-pipeline-'));
  writeFileSync(join(dir, 'fake-thread.mjs'), FAKE_THREAD);
});
afterEach(async () => {
  await scheduler?.close();
  scheduler = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ThreadScheduler pipelining', () => {
  it('sends a thread its next job before it has answered the current one', async () => {
    expect(THREAD_PIPELINE_DEPTH).toBe(2);
    scheduler = new ThreadScheduler(1, pathToFileURL(join(dir, 'fake-thread.mjs')), config);
    await scheduler.start();
    const seen = (await Promise.all(Array.from({ length: 4 }, () => scheduler!.submit(job())))) as unknown as Seen[];
    // Jobs 1-3 were answered only because the next had already arrived; the last had nothing behind it.
    expect(seen.map((s) => s.sawNext)).toEqual([true, true, true, false]);
    // Never more than the depth unanswered on one thread.
    expect(Math.max(...seen.map((s) => s.maxUnanswered))).toBe(THREAD_PIPELINE_DEPTH);
  }, 20_000);

  it('gives lone jobs to idle threads before queueing a second job on a busy one', async () => {
    scheduler = new ThreadScheduler(2, pathToFileURL(join(dir, 'fake-thread.mjs')), config);
    await scheduler.start();
    // Two jobs, two threads: each thread gets one, so both wait for their 1.5 s timeout with nothing behind them.
    const seen = (await Promise.all([scheduler.submit(job()), scheduler.submit(job())])) as unknown as Seen[];
    expect(new Set(seen.map((s) => s.threadId)).size).toBe(2);
    expect(seen.every((s) => !s.sawNext && s.maxUnanswered === 1)).toBe(true);
  }, 20_000);
});
