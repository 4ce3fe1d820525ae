/**
 * Quick start: `npm run demo`. Starts a local Redis (unless REDIS_URL is set), generates random-weight
 * models (no Hub access needed), starts the API and one worker, submits a synthetic corpus as an
 * NDJSON stream, shows progress, and prints a summary of the results. Everything it started stops at the end.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { generateModels } from '../tools/model-generator/index.js';
import { ndjsonChunks, API_NODE_FLAGS, TERMINAL_STATES, type JobView } from '#shared';
import { syntheticCorpus } from '../tools/synthetic-corpus.js';
import { freePort } from '../tools/free-port.js';

const ROOT = resolve(import.meta.dirname, '../..');
const { values: args } = parseArgs({
  options: {
    texts: { type: 'string', default: '5000' },
    task: { type: 'string', default: 'embed' },
    dtype: { type: 'string', default: 'q8' },
  },
});
const count = Number(args.texts);
const task = args.task === 'sentiment' ? 'sentiment' : 'embed';
const model = task === 'embed' ? 'shardwise-random/bert-minilm-embed' : 'shardwise-random/distilbert-minilm-sentiment';
const children: ChildProcess[] = [];
const temp = mkdtempSync(join(tmpdir(), 'shardwise-demo-'));

function start(label: string, command: string, argv: string[], env: Record<string, string>): ChildProcess {
  const child = spawn(command, argv, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  child.stdout?.on('data', (d: Buffer) => logs.push(d.toString()));
  child.stderr?.on('data', (d: Buffer) => logs.push(d.toString()));
  child.on('exit', (code) => {
    if (code && !stopping) {
      console.error(`\n${label} exited with code ${code}:\n${logs.join('').slice(-4000)}`);
      void shutdown(1);
    }
  });
  children.push(child);
  return child;
}

async function waitReady(url: string, label: string, timeoutMs = 180_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if ((await fetch(url)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${label} did not become ready at ${url}`);
}

let stopping = false;
async function shutdown(code: number): Promise<never> {
  stopping = true;
  for (const child of children.reverse()) if (child.exitCode === null) child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1500));
  for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
  rmSync(temp, { recursive: true, force: true });
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(130));

async function main(): Promise<void> {
  const modelDir = process.env.MODEL_DIR ?? join(ROOT, '.cache/models');
  console.log(`[1/5] models: generating random-weight MiniLM-sized models in ${modelDir} (skipped when present)`);
  await generateModels({ out: modelDir, size: 'minilm', family: [task === 'embed' ? 'bert' : 'distilbert'], head: [task], dtype: ['fp32', 'q8'] });

  let redisUrl = process.env.REDIS_URL;
  if (!redisUrl) {
    if (spawnSync('redis-server', ['--version']).status !== 0) {
      throw new Error('redis-server not found: install it (Debian/Ubuntu: sudo apt-get install -y redis-server) or set REDIS_URL');
    }
    const port = await freePort();
    start('redis-server', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--dir', temp, '--maxmemory-policy', 'noeviction'], {});
    redisUrl = `redis://127.0.0.1:${port}`;
    await new Promise((r) => setTimeout(r, 300));
  }
  console.log(`[2/5] redis: ${redisUrl}`);

  const apiPort = await freePort();
  const workerPort = await freePort();
  const env = { REDIS_URL: redisUrl, MODEL_DIR: modelDir, RESULTS_DIR: join(temp, 'results') };
  start('api', process.execPath, [...API_NODE_FLAGS, 'dist/apps/api/src/main.js'], { ...env, PORT: String(apiPort) });
  start('worker', process.execPath, ['dist/apps/worker/src/main.js'], { ...env, WORKER_PORT: String(workerPort), DTYPE: args.dtype ?? 'q8', PRELOAD_MODELS: model });
  const api = `http://127.0.0.1:${apiPort}`;
  await waitReady(`${api}/readyz`, 'api');
  await waitReady(`http://127.0.0.1:${workerPort}/readyz`, 'worker');
  console.log(`[3/5] api ${api}, worker ready (model ${model}, ${args.dtype})`);

  const body = Readable.from(ndjsonChunks(syntheticCorpus(count, { seed: 7 })));
  const submitted = await fetch(`${api}/v1/jobs?task=${task}&model=${encodeURIComponent(model)}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-ndjson' },
    body: Readable.toWeb(body) as ReadableStream,
    duplex: 'half',
  } as RequestInit);
  const created = (await submitted.json()) as { id: string };
  if (submitted.status !== 202) throw new Error(`submit failed: ${submitted.status} ${JSON.stringify(created)}`);
  console.log(`[4/5] submitted ${count} texts as job ${created.id}`);

  let job: JobView;
  for (;;) {
    job = (await (await fetch(`${api}/v1/jobs/${created.id}`)).json()) as JobView;
    const done = job.counts.succeeded + job.counts.failed;
    const width = 30;
    const filled = Math.round((done / job.counts.total) * width);
    const rate = job.throughput?.texts_per_second ?? 0;
    const line = `      [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${job.counts.total} texts, shards ${job.shards.done}/${job.shards.total}, ${Math.round(rate)} texts/s, ${job.state}`;
    process.stdout.write(process.stdout.isTTY ? `\r${line}` : `${line}\n`);
    if (TERMINAL_STATES.includes(job.state)) break;
    await new Promise((r) => setTimeout(r, process.stdout.isTTY ? 250 : 1000));
  }
  if (process.stdout.isTTY) process.stdout.write('\n');

  const results = await (await fetch(`${api}/v1/jobs/${created.id}/results`)).text();
  const lines = results
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; embedding?: number[]; label?: string; error?: unknown });
  const errors = lines.filter((l) => l.error).length;
  console.log(`[5/5] ${job.state}: ${lines.length} result lines, ${errors} errors, ${job.truncated} truncated, ${job.tokens_processed} tokens`);
  console.log(`      throughput ${Math.round(job.throughput?.texts_per_second ?? 0)} texts/s, ${Math.round(job.throughput?.tokens_per_second ?? 0)} tokens/s`);
  if (task === 'embed') {
    const first = lines.find((l) => l.embedding);
    if (first?.embedding)
      console.log(
        `      ${first.id}: ${first.embedding.length}-dim embedding [${first.embedding
          .slice(0, 4)
          .map((v: number) => v.toFixed(4))
          .join(', ')}, …]`,
      );
  } else {
    const byLabel: Record<string, number> = {};
    for (const l of lines) if (l.label) byLabel[l.label] = (byLabel[l.label] ?? 0) + 1;
    console.log(`      labels: ${JSON.stringify(byLabel)} (random weights: labels carry no meaning)`);
  }
  console.log(`      results: GET ${api}/v1/jobs/${created.id}/results (stopping the demo servers now)`);
  await shutdown(job.state === 'completed' ? 0 : 1);
}

main().catch(async (error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  await shutdown(1);
});
