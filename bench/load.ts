/**
 * `npm run bench:load [-- flags]`: a bounded load test on loopback. Starts a private redis-server,
 * the API and worker(s) with a tiny generated model, runs concurrent job submissions and status
 * polls for a fixed time (and at most --max-jobs jobs), waits for every accepted job, checks that
 * each input has exactly one result line, and prints API latency percentiles. Everything it started
 * stops at the end. Traffic goes to 127.0.0.1 only.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generateModels } from '../tools/model-generator/index.js';
import { runLoad, type LoadReport } from './load-generator.js';
import { API_NODE_FLAGS } from '#shared';
import { freePort } from '../tools/free-port.js';

const ROOT = resolve(import.meta.dirname, '../..');
const MODEL = 'shardwise-random/bert-tiny-embed';
const HELP = `npm run bench:load -- [flags]

  --seconds N       load phase length (default 20)
  --max-jobs N      stop submitting after N jobs (default 5000)
  --submitters N    concurrent submitting clients (default 16)
  --pollers N       concurrent status-polling clients (default 16)
  --texts N         texts per job (default 20)
  --workers N       worker processes (default 1)
  --backlog-bytes N ADMISSION_MAX_BACKLOG_BYTES of the API (default: the API's own, 1 GiB); a small
                    budget shows backpressure: 429 BACKLOG_FULL instead of an ever-growing queue
  --json            print the report as JSON only`;

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '20' },
    'max-jobs': { type: 'string', default: '5000' },
    submitters: { type: 'string', default: '16' },
    pollers: { type: 'string', default: '16' },
    texts: { type: 'string', default: '20' },
    workers: { type: 'string', default: '1' },
    'backlog-bytes': { type: 'string' },
    json: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

const children: ChildProcess[] = [];
const temp = mkdtempSync(join(tmpdir(), 'shardwise-load-'));

function start(command: string, argv: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(command, argv, { cwd: ROOT, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? temp, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let errors = '';
  child.stderr?.on('data', (d: Buffer) => (errors = (errors + d.toString()).slice(-4000)));
  child.on('exit', (code) => {
    if (code && !stopping) console.error(`${argv[0] ?? command} exited with ${code}: ${errors}`);
  });
  children.push(child);
  return child;
}

async function ready(url: string, child: ChildProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${url}: process exited with ${child.exitCode}`);
    const ok = await fetch(url).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${url} not ready in time`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

let stopping = false;
async function stopAll(): Promise<void> {
  stopping = true;
  await Promise.all(
    children.reverse().map(
      (child) =>
        new Promise<void>((done) => {
          if (child.exitCode !== null || child.signalCode !== null) return done();
          const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
          child.once('exit', () => {
            clearTimeout(timer);
            done();
          });
          child.kill('SIGTERM');
        }),
    ),
  );
  rmSync(temp, { recursive: true, force: true });
}

function table(report: LoadReport, options: Record<string, unknown>): string {
  const row = (name: string, s: LoadReport['submit']) =>
    `  ${name.padEnd(8)} ${String(s.count).padStart(7)} ${String(s.p50).padStart(8)} ${String(s.p90).padStart(8)} ${String(s.p99).padStart(8)} ${String(s.max).padStart(8)}   ${JSON.stringify(s.statuses)}${s.networkErrors ? `, ${s.networkErrors} network errors` : ''}`;
  return [
    `load: ${JSON.stringify(options)}`,
    `  ${'request'.padEnd(8)} ${'count'.padStart(7)} ${'p50 ms'.padStart(8)} ${'p90 ms'.padStart(8)} ${'p99 ms'.padStart(8)} ${'max ms'.padStart(8)}   statuses`,
    row('submit', report.submit),
    row('poll', report.poll),
    `  jobs accepted ${report.accepted} in ${(report.durationMs / 1000).toFixed(1)} s (${(report.accepted / (report.durationMs / 1000)).toFixed(1)}/s), refused ${JSON.stringify(report.refused)}; ` +
      `all finished ${report.drainMs} ms after the load stopped: ${report.completed} completed, ${report.unfinished} unfinished`,
    `  inputs ${report.inputs}: lost ${report.lost}, duplicated ${report.duplicated}, misplaced ${report.misplaced}`,
  ].join('\n');
}

async function main(): Promise<number> {
  if (args.help) {
    console.log(HELP);
    return 0;
  }
  const num = (name: keyof typeof args) => {
    const n = Number(args[name]);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive integer`);
    return n;
  };
  const options = {
    seconds: num('seconds'),
    maxJobs: num('max-jobs'),
    submitters: num('submitters'),
    pollers: num('pollers'),
    texts: num('texts'),
    workers: num('workers'),
    backlogBytes: args['backlog-bytes'] === undefined ? undefined : num('backlog-bytes'),
  };
  const modelDir = join(ROOT, '.cache/models');
  await generateModels({ out: modelDir, size: 'tiny', family: ['bert'], head: ['embed'], dtype: ['fp32'] });

  const redisPort = await freePort();
  const redis = start(
    process.env.REDIS_SERVER_BIN ?? 'redis-server',
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', temp, '--maxmemory-policy', 'noeviction'],
    {},
  );
  const common = { REDIS_URL: `redis://127.0.0.1:${redisPort}`, MODEL_DIR: modelDir, RESULTS_DIR: join(temp, 'results'), LOG_LEVEL: 'warn' };
  const deadline = Date.now() + 10_000;
  const listening = () =>
    new Promise<boolean>((done) => {
      const socket = connect(redisPort, '127.0.0.1', () => {
        socket.end();
        done(true);
      });
      socket.on('error', () => done(false));
    });
  while (!(await listening())) {
    if (redis.exitCode !== null || Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((r) => setTimeout(r, 50));
  }

  const apiPort = await freePort();
  const api = start(process.execPath, [...API_NODE_FLAGS, 'dist/apps/api/src/main.js'], {
    ...common,
    PORT: String(apiPort),
    DEFAULT_MODEL_EMBED: MODEL,
    ...(options.backlogBytes ? { ADMISSION_MAX_BACKLOG_BYTES: String(options.backlogBytes) } : {}),
  });
  const baseUrl = `http://127.0.0.1:${apiPort}`;
  await ready(`${baseUrl}/readyz`, api);
  const threads = String(Math.max(1, Math.floor(availableParallelism() / options.workers)));
  for (let i = 0; i < options.workers; i++) {
    const port = await freePort();
    const worker = start(process.execPath, ['dist/apps/worker/src/main.js'], { ...common, WORKER_PORT: String(port), PRELOAD_MODELS: MODEL, INFERENCE_THREADS: threads });
    await ready(`http://127.0.0.1:${port}/readyz`, worker);
  }

  const report = await runLoad({
    baseUrl,
    durationMs: options.seconds * 1000,
    maxJobs: options.maxJobs,
    submitters: options.submitters,
    pollers: options.pollers,
    textsPerJob: options.texts,
    model: MODEL,
    drainTimeoutMs: 300_000,
  });
  console.log(args.json ? JSON.stringify({ options, report }, null, 2) : table(report, options));
  return report.lost === 0 && report.duplicated === 0 && report.misplaced === 0 && report.submit.statuses['500'] === undefined ? 0 : 1;
}

main()
  .then(async (code) => {
    await stopAll();
    process.exit(code);
  })
  .catch(async (error: unknown) => {
    console.error(`bench:load failed: ${error instanceof Error ? error.message : String(error)}`);
    await stopAll();
    process.exit(1);
  });
