/**
 * Measurement 4, "system": the real deployment on one box. A private Redis, the built API and N
 * worker processes; the corpus is streamed as NDJSON to POST /v1/jobs and the clock runs from the
 * first byte of the upload to the job's finished_at (the API's record, same host clock). Shard
 * latencies come from the BullMQ job hashes (processedOn → finishedOn) left in Redis. The memory part
 * (memory.ts: workers started once the job is queued) and `npm run bench:scale` (scale.ts: the noop
 * engine, Redis INFO, result downloads) run through the same function.
 */
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { request, type IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { ndjsonChunks, API_NODE_FLAGS, TERMINAL_STATES, type JobView } from '#shared';
import { MODEL_ID } from './corpus.js';
import { API_ENTRY, freePort, readCpuSeconds, RssSampler, startApp, startRedis, WORKER_ENTRY, type AppProc, type RssSummary } from './processes.js';
import { readRedisCounters, type RedisCounters } from './redis-info.js';
import { percentile } from './stats.js';

export interface SystemConfig {
  modelDir: string;
  /** DTYPE of the workers; unset keeps the app default (the noop engine ignores it). */
  dtype?: 'fp32' | 'q8';
  workers: number;
  /** INFERENCE_THREADS of each worker; unset keeps the app default. */
  inferenceThreads?: number;
  /** Extra worker env (MAX_BATCH_TOKENS, WORKER_CONCURRENCY, INFERENCE_ENGINE...); unset keys keep the app defaults. */
  workerEnv?: Record<string, string>;
  /** Extra API env (SHARD_MAX_TEXTS...). */
  apiEnv?: Record<string, string>;
  /** Node flags of the API and of each worker, before the entry (e.g. --cpu-prof --cpu-prof-dir=DIR). */
  apiNodeArgs?: readonly string[];
  workerNodeArgs?: readonly string[];
  /** The NDJSON upload body, produced lazily (see itemsBody); called once. */
  body: () => AsyncIterable<Uint8Array>;
  count: number;
  sampleRss?: boolean;
  /**
   * Start the workers only once the job is accepted: Redis is read with the whole job queued and
   * no consumer yet (redis.accepted), and the processing clock starts when the workers are ready.
   */
  workersAfterUpload?: boolean;
  /** Stop this many seconds after processing began (cancel the job) instead of waiting for it to finish. */
  processSeconds?: number;
  /** Read shard boundaries from the queue (for replaying the batch plan). */
  readShardRanges?: boolean;
  /** Runs once the job ended and everything above was read, before the processes stop (downloads); its value is the run's `after`. */
  afterJob?: (api: AppProc, jobId: string) => Promise<unknown>;
  timeoutMs?: number;
  log?: (line: string) => void;
}

/** Upload body of an item iterable: NDJSON in chunks of 256 KiB, generated as the upload reads it. */
export function itemsBody(items: () => Iterable<{ id: string; text: string }>): () => AsyncIterable<Uint8Array> {
  return () => ndjsonChunks(items(), 256 * 1024);
}

export interface ShardLatency {
  n: number;
  p50: number;
  p95: number;
  max: number;
  mean: number;
}

export interface SystemRun {
  config: { dtype: string | null; workers: number; inferenceThreads: number | null; workerEnv: Record<string, string>; apiEnv: Record<string, string> };
  texts: number;
  state: string;
  /** Upload start → job finished_at. */
  seconds: number;
  /** Upload start → 202 (the corpus stored, validated and its shards enqueued). */
  uploadSeconds: number;
  /** 202 → workers ready (workersAfterUpload; 0 otherwise). */
  workerStartSeconds: number;
  /** Processing start (the 202, or the workers ready) → the job's finished_at, or the stop. */
  processingSeconds: number;
  counts: { total: number; succeeded: number; failed: number };
  tokensProcessed: number;
  truncated: number;
  shards: { total: number; done: number; failed: number };
  /** finishedOn - processedOn of each completed shard, in seconds. */
  shardSeconds: ShardLatency | null;
  /** processedOn - timestamp (time queued) of each completed shard, in seconds. */
  shardQueueSeconds: ShardLatency | null;
  shardRanges?: Array<{ start: number; count: number }>;
  /** From the BullMQ timestamps; null when no shard finished. */
  shardTimeline: ShardTimeline | null;
  /** For runs cut short (processSeconds): texts done when stopped and the seconds they took after processing began. */
  partial?: { textsDone: number; processingSeconds: number };
  /** CPU seconds each process used from the upload's start (workers: from ready) to the job's end (or the stop); `bench` is this process, the client. */
  cpuSeconds: Record<string, number>;
  /** CPU seconds of the API and the bench during the upload alone (upload start → 202). */
  uploadCpuSeconds: Record<string, number>;
  /** Redis INFO when the upload began, when the job was accepted, and at the job's end (or the stop), before the shard hashes are read. */
  redis: { beforeUpload: RedisCounters; accepted: RedisCounters; end: RedisCounters };
  /** Thread-seconds the workers' engines reported per stage (shardwise_worker_stage_seconds_sum), summed over workers. */
  workerStages: Record<string, number> | null;
  /** From the workers' /metrics (shardwise_worker_inference_tokens_total), summed; null when they do not export it. */
  workerTokens: { real: number; padding: number } | null;
  rss?: Record<string, RssSummary>;
  rssSeries?: Record<string, Array<[number, number]>>;
  jobThroughput: unknown;
  jobId: string;
  after?: unknown;
}

/**
 * POSTs an NDJSON body over node:http, writing each chunk only once the previous one was taken
 * (backpressure) and yielding to the event loop between chunks. On loopback a socket write often
 * completes at once and 'drain' comes on the same tick, so without the yield a fast generator would
 * starve this process's timers: the RSS sampler, which must keep sampling during the upload.
 */
export async function postNdjson(url: string, body: AsyncIterable<Uint8Array>): Promise<{ status: number; body: string }> {
  const req = request(url, { method: 'POST', headers: { 'content-type': 'application/x-ndjson' } });
  // A refusal (4xx) can come before the body ends: writing stops then.
  let answeredEarly = false;
  const answered = once(req, 'response').then(([res]) => {
    answeredEarly = true;
    return res as IncomingMessage;
  });
  answered.catch(() => undefined); // awaited below; this only keeps a connection error from being unhandled meanwhile
  for await (const chunk of body) {
    if (answeredEarly) break;
    if (!req.write(chunk)) await Promise.race([once(req, 'drain'), answered]);
    await new Promise((r) => setImmediate(r));
  }
  req.end();
  const res = await answered;
  let text = '';
  for await (const piece of res) text += String(piece);
  return { status: res.statusCode ?? 0, body: text };
}

export async function getJob(baseUrl: string, id: string): Promise<JobView> {
  const response = await fetch(`${baseUrl}/v1/jobs/${id}`);
  if (response.status !== 200) throw new Error(`GET /v1/jobs/${id}: ${response.status} ${await response.text()}`);
  return (await response.json()) as JobView;
}

function latency(values: number[]): ShardLatency | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  return {
    n: sorted.length,
    p50: percentile(sorted, 0.5),
    p95: percentile(sorted, 0.95),
    max: sorted[sorted.length - 1] as number,
    mean: sorted.reduce((a, b) => a + b, 0) / sorted.length,
  };
}

/** Sums a labelled Prometheus counter over the workers' /metrics, by the value of `label`; null when absent. */
export async function sumWorkerMetric(workers: readonly AppProc[], metric: string, label: string): Promise<Record<string, number> | null> {
  const totals: Record<string, number> = {};
  let found = false;
  for (const worker of workers) {
    const text = await (await fetch(`${worker.baseUrl}/metrics`)).text();
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${metric}{`)) continue;
      const match = /^[^{]+\{([^}]*)\}\s+(\S+)/.exec(line);
      const value = match ? new RegExp(`${label}="([^"]*)"`).exec(match[1] as string)?.[1] : undefined;
      if (!match || value === undefined) continue;
      found = true;
      totals[value] = (totals[value] ?? 0) + Number(match[2]);
    }
  }
  return found ? totals : null;
}

/** Seconds (from the upload's start) until the first shard was picked up and the last finished, and time spent with n shards in flight. */
export interface ShardTimeline {
  firstPickup: number;
  lastFinish: number;
  /** inFlight[n]: seconds between the first pickup and the last finish with exactly n shards being processed. */
  inFlight: number[];
}

function timeline(spans: Array<[number, number]>, origin: number): ShardTimeline | null {
  if (spans.length === 0) return null;
  const events = spans
    .flatMap(
      ([a, b]) =>
        [
          [a, 1],
          [b, -1],
        ] as Array<[number, number]>,
    )
    .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  const inFlight: number[] = [];
  let level = 0;
  let last = events[0]![0];
  for (const [t, delta] of events) {
    inFlight[level] = (inFlight[level] ?? 0) + (t - last) / 1000;
    level += delta;
    last = t;
  }
  return {
    firstPickup: (Math.min(...spans.map((s) => s[0])) - origin) / 1000,
    lastFinish: (Math.max(...spans.map((s) => s[1])) - origin) / 1000,
    inFlight: Array.from(inFlight, (v) => v ?? 0),
  };
}

async function readShards(redisUrl: string, jobId: string, withRanges: boolean, origin: number) {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 3 });
  try {
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, found] = await redis.scan(cursor, 'MATCH', `sw:bull:shards:${jobId}-*`, 'COUNT', 1000);
      cursor = next;
      keys.push(...found.filter((k) => /-\d+$/.test(k)));
    } while (cursor !== '0');
    const processing: number[] = [];
    const waiting: number[] = [];
    const spans: Array<[number, number]> = [];
    const ranges: Array<{ start: number; count: number }> = [];
    for (const key of keys) {
      const fields = withRanges ? ['timestamp', 'processedOn', 'finishedOn', 'data'] : ['timestamp', 'processedOn', 'finishedOn'];
      const [queued, processed, finished, data] = await redis.hmget(key, ...fields);
      if (processed && finished) {
        processing.push((Number(finished) - Number(processed)) / 1000);
        spans.push([Number(processed), Number(finished)]);
        if (queued) waiting.push((Number(processed) - Number(queued)) / 1000);
      }
      if (data) {
        const payload = JSON.parse(data) as { start: number; count: number };
        ranges.push({ start: payload.start, count: payload.count });
      }
    }
    ranges.sort((a, b) => a.start - b.start);
    return { processing: latency(processing), waiting: latency(waiting), ranges, timeline: timeline(spans, origin) };
  } finally {
    redis.disconnect();
  }
}

export async function runSystem(config: SystemConfig): Promise<SystemRun> {
  const log = config.log ?? (() => undefined);
  const temp = await mkdtemp(join(tmpdir(), 'sw-bench-'));
  const redis = await startRedis();
  const apps: AppProc[] = [];
  let sampler: RssSampler | undefined;
  try {
    const common = { REDIS_URL: redis.url, MODEL_DIR: config.modelDir, RESULTS_DIR: join(temp, 'results') };
    const apiPort = await freePort();
    const api = await startApp(API_ENTRY, { ...common, ...config.apiEnv, PORT: String(apiPort) }, apiPort, undefined, [...API_NODE_FLAGS, ...(config.apiNodeArgs ?? [])]);
    apps.push(api);
    const workerEnv: Record<string, string> = {
      ...(config.inferenceThreads === undefined ? {} : { INFERENCE_THREADS: String(config.inferenceThreads) }),
      INTRA_OP_THREADS: '1',
      ...(config.dtype === undefined ? {} : { DTYPE: config.dtype }),
      ...config.workerEnv,
    };
    const startWorkers = () =>
      Promise.all(
        Array.from({ length: config.workers }, async () => {
          const port = await freePort();
          const env = { ...common, ...workerEnv, WORKER_PORT: String(port), DEVICE: 'cpu', PRELOAD_MODELS: `embed:${MODEL_ID}` };
          const worker = await startApp(WORKER_ENTRY, env, port, undefined, config.workerNodeArgs);
          apps.push(worker);
          return worker;
        }),
      );
    const workerName = (i: number) => (config.workers === 1 ? 'worker' : `worker${i + 1}`);
    const processes: Record<string, number> = { api: api.pid, redis: redis.pid };
    const cpuBefore: Record<string, number> = {};
    const markCpu = (names: string[]) => {
      for (const name of names) cpuBefore[name] = readCpuSeconds(processes[name] as number) ?? 0;
    };
    const cpuSince = (names: string[]) => Object.fromEntries(names.map((name) => [name, (readCpuSeconds(processes[name] as number) ?? NaN) - (cpuBefore[name] ?? 0)]));

    let workers: AppProc[] = [];
    if (!config.workersAfterUpload) {
      workers = await startWorkers();
      for (const [i, w] of workers.entries()) processes[workerName(i)] = w.pid;
      log(`api and ${workers.length} worker(s) ready`);
    }
    if (config.sampleRss) {
      sampler = new RssSampler({ ...processes, bench: process.pid });
      sampler.mark('upload');
    }
    const redisBefore = await readRedisCounters(redis.url);
    markCpu(Object.keys(processes));
    const benchBefore = process.cpuUsage();
    const benchSeconds = () => {
      const used = process.cpuUsage(benchBefore);
      return (used.user + used.system) / 1e6;
    };
    const started = Date.now();
    const response = await postNdjson(`${api.baseUrl}/v1/jobs?${new URLSearchParams({ task: 'embed', model: MODEL_ID })}`, config.body());
    const created = JSON.parse(response.body) as { id?: string };
    const accepted = Date.now();
    const uploadSeconds = (accepted - started) / 1000;
    if (response.status !== 202 || !created.id) throw new Error(`submit failed: ${response.status} ${response.body}`);
    const jobId = created.id;
    const uploadCpuSeconds = { ...cpuSince(['api']), bench: benchSeconds() };
    const redisAccepted = await readRedisCounters(redis.url);
    log(`uploaded ${config.count} texts in ${uploadSeconds.toFixed(1)} s (job ${jobId})`);

    if (config.workersAfterUpload) {
      sampler?.mark('queued');
      workers = await startWorkers();
      for (const [i, w] of workers.entries()) {
        processes[workerName(i)] = w.pid;
        sampler?.add(workerName(i), w.pid);
      }
      markCpu(workers.map((_, i) => workerName(i)));
      log(`${workers.length} worker(s) ready ${((Date.now() - accepted) / 1000).toFixed(1)} s after the upload was accepted`);
    }
    const processingStarted = Date.now();
    sampler?.mark('processing');

    const deadline = Date.now() + (config.timeoutMs ?? 60 * 60_000);
    const stopAt = config.processSeconds === undefined ? Infinity : processingStarted + config.processSeconds * 1000;
    let job: JobView;
    let lastLog = Date.now();
    for (;;) {
      job = await getJob(api.baseUrl, jobId);
      if (TERMINAL_STATES.includes(job.state)) break;
      if (Date.now() >= stopAt) break;
      if (Date.now() > deadline) throw new Error(`job still ${job.state} after the timeout (${JSON.stringify(job.shards)})`);
      if (Date.now() - lastLog > 15_000) {
        lastLog = Date.now();
        log(`  ${job.counts.succeeded + job.counts.failed}/${job.counts.total} texts, shards ${job.shards.done}/${job.shards.total}`);
      }
      // The end time is the job's finished_at, not when a poll saw it: polling slowly costs no precision, only less API CPU.
      await new Promise((r) => setTimeout(r, 500));
    }
    const stoppedAt = Date.now();
    const cpuSeconds = { ...cpuSince(Object.keys(processes)), bench: benchSeconds() };
    const redisEnd = await readRedisCounters(redis.url);
    // Read before any cancel: cancelling takes the job's shards off the queue.
    const shards = await readShards(redis.url, jobId, config.readShardRanges ?? false, started);
    const tokenKinds = await sumWorkerMetric(workers, 'shardwise_worker_inference_tokens_total', 'kind').catch(() => null);
    const workerTokens = tokenKinds ? { real: tokenKinds.real ?? 0, padding: tokenKinds.padding ?? 0 } : null;
    const workerStages = await sumWorkerMetric(workers, 'shardwise_worker_stage_seconds_sum', 'stage').catch(() => null);
    let partial: SystemRun['partial'];
    if (!TERMINAL_STATES.includes(job.state)) {
      partial = { textsDone: job.counts.succeeded + job.counts.failed, processingSeconds: (stoppedAt - processingStarted) / 1000 };
      sampler?.mark('cancel');
      await fetch(`${api.baseUrl}/v1/jobs/${jobId}/cancel`, { method: 'POST' });
    }
    sampler?.stop();
    const after = config.afterJob && TERMINAL_STATES.includes(job.state) ? await config.afterJob(api, jobId) : undefined;
    const finishedAt = job.finished_at ? Date.parse(job.finished_at) : stoppedAt;
    return {
      config: { dtype: config.dtype ?? null, workers: config.workers, inferenceThreads: config.inferenceThreads ?? null, workerEnv, apiEnv: config.apiEnv ?? {} },
      texts: config.count,
      state: job.state,
      seconds: (finishedAt - started) / 1000,
      uploadSeconds,
      workerStartSeconds: (processingStarted - accepted) / 1000,
      processingSeconds: (finishedAt - processingStarted) / 1000,
      counts: job.counts,
      tokensProcessed: job.tokens_processed,
      truncated: job.truncated,
      shards: job.shards,
      shardSeconds: shards.processing,
      shardQueueSeconds: shards.waiting,
      shardRanges: config.readShardRanges ? shards.ranges : undefined,
      shardTimeline: shards.timeline,
      partial,
      cpuSeconds,
      uploadCpuSeconds,
      redis: { beforeUpload: redisBefore, accepted: redisAccepted, end: redisEnd },
      workerStages,
      workerTokens,
      rss: sampler?.summary(),
      rssSeries: sampler?.downsampled(),
      jobThroughput: job.throughput,
      jobId,
      after,
    };
  } finally {
    sampler?.stop();
    for (const app of apps.reverse()) await app.stop().catch(() => undefined);
    await redis.stop();
    await rm(temp, { recursive: true, force: true });
  }
}
