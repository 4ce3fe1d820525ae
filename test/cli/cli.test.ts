import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ResultLine } from '#shared';
import { EMBED_DIMS, EMBED_MODEL, lines, parseNpy, startStack, until, type Stack } from '../events/stack.js';
import { expectedRow, readParquetResults } from '../support/parquet-results.js';
import { DIST } from '../support/dist.js';
import { freePort } from '../support/redis-server.js';

const CLI = resolve(DIST, 'apps/cli/src/main.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Running {
  stderr(): string;
  done: Promise<Run>;
}

function start(args: string[], env: Record<string, string> = {}): Running {
  const child = spawn(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const done = new Promise<Run>((r) => child.once('close', (code) => r({ code, stdout, stderr })));
  return { stderr: () => stderr, done };
}

type Embedded = { id: string; index: number; embedding?: number[]; error?: { code: string } };

describe('shardwise CLI against a running API and worker', () => {
  let stack: Stack;
  let dir: string;
  let env: Record<string, string>;
  const cli = (...args: string[]) => start(args, env).done;

  /** Embeddings of the same texts sent straight to the API, to check what the CLI uploaded. */
  async function reference(texts: string[]): Promise<number[][]> {
    const response = await fetch(`${stack.api.baseUrl}/v1/jobs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ task: 'embed', model: EMBED_MODEL, inputs: texts }),
    });
    const { id } = (await response.json()) as { id: string };
    await until('the reference job', async () => ((await (await fetch(`${stack.api.baseUrl}/v1/jobs/${id}`)).json()) as { state: string }).state === 'completed', 60_000);
    return lines<Embedded>(await (await fetch(`${stack.api.baseUrl}/v1/jobs/${id}/results`)).text()).map((l) => l.embedding as number[]);
  }

  beforeAll(async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run "npx tsc -p tsconfig.build.json" first`);
    stack = await startStack({ api: { SHARD_MAX_TEXTS: '20' } });
    dir = await mkdtemp(join(tmpdir(), 'sw-cli-'));
    env = { SHARDWISE_API_URL: stack.api.baseUrl };
  });

  afterAll(async () => {
    await stack?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('submits a .jsonl file, follows it and writes the results (exit 0)', async () => {
    const file = join(dir, 'corpus.jsonl');
    const items = Array.from({ length: 130 }, (_, i) => ({ id: `doc-${i}`, text: `document number ${i}: some words to embed` }));
    await writeFile(file, `${items.map((item) => JSON.stringify(item)).join('\n')}\n`);
    const out = join(dir, 'out.jsonl');
    const run = await cli('submit', file, '--task', 'embed', '--model', EMBED_MODEL, '--metadata', '{"batch":"b1"}', '--wait', '--output', out);
    expect(run.code, run.stderr).toBe(0);
    const id = run.stdout.trim();
    expect(id).toMatch(/^job_[A-Za-z0-9_-]{22}$/);
    expect(run.stderr).toContain(`submitted ${id}: 130 texts in 7 shard(s)`);
    expect(run.stderr).toMatch(/completed .*130\/130 texts/);
    expect(run.stderr).toContain(`wrote ${out}`);
    const results = lines<Embedded>(await readFile(out, 'utf8'));
    expect(results.map((r) => r.id)).toEqual(items.map((item) => item.id));
    expect(results.every((r) => r.embedding?.length === EMBED_DIMS)).toBe(true);
    expect(existsSync(`${out}.part`)).toBe(false);

    // The same job read back: status --json, list --json, results as .npy.
    const status = await cli('status', id, '--json');
    expect(status.code).toBe(0);
    expect(JSON.parse(status.stdout)).toMatchObject({ id, state: 'completed', counts: { total: 130, succeeded: 130 }, metadata: { batch: 'b1' } });
    const human = await cli('status', id);
    expect(human.stdout).toContain(`${id}  completed`);
    const list = await cli('list', '--json', '--limit', '5');
    expect(list.code).toBe(0);
    expect((JSON.parse(list.stdout) as { data: Array<{ id: string }> }).data.map((j) => j.id)).toContain(id);
    const table = await cli('list');
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+STATE\s+TASK/);
    const npyPath = join(dir, 'out.npy');
    const npyRun = await cli('results', id, '-o', npyPath, '--json');
    expect(npyRun.code, npyRun.stderr).toBe(0);
    expect(JSON.parse(npyRun.stdout)).toMatchObject({ id, format: 'npy', path: npyPath, items: 130, dimensions: EMBED_DIMS });
    const npy = parseNpy(await readFile(npyPath));
    expect(npy).toMatchObject({ descr: '<f4', shape: [130, EMBED_DIMS] });
    expect(Array.from(npy.data.subarray(0, EMBED_DIMS))).toEqual(results[0]!.embedding!.map((v) => Math.fround(v)));
    // .parquet output: the same rows, read back with hyparquet.
    const parquetPath = join(dir, 'out.parquet');
    const parquetRun = await cli('results', id, '-o', parquetPath, '--json');
    expect(parquetRun.code, parquetRun.stderr).toBe(0);
    expect(JSON.parse(parquetRun.stdout)).toMatchObject({ id, format: 'parquet', path: parquetPath, items: 130 });
    expect(parquetRun.stderr).toMatch(/\(parquet, .*, 130 rows\)/);
    const parquet = await readParquetResults(await readFile(parquetPath));
    expect(parquet.rows).toEqual(results.map((line) => expectedRow(line as ResultLine, { task: 'embed' })));
    const stdoutResults = await cli('results', id);
    expect(lines(stdoutResults.stdout)).toHaveLength(130);
    const watched = await cli('watch', id);
    expect(watched.code).toBe(0);
    expect(watched.stderr).toContain(`${id} completed: 130 of 130 texts succeeded`);
    // A completed job cannot be cancelled: the API answers 409, the CLI exits 2.
    const late = await cli('cancel', id);
    expect(late.code).toBe(2);
    expect(late.stderr).toContain('JOB_FINISHED');
  });

  it('uploads a corpus once and runs jobs on it by file id, with no body sent again', async () => {
    const file = join(dir, 'once.txt');
    const texts = Array.from({ length: 45 }, (_, i) => `uploaded once, text ${i}`);
    await writeFile(file, `${texts.join('\n')}\n`);
    const uploaded = await cli('upload', file);
    expect(uploaded.code, uploaded.stderr).toBe(0);
    const fileId = uploaded.stdout.trim();
    expect(fileId).toMatch(/^file-[A-Za-z0-9_-]{24}$/);
    expect(uploaded.stderr).toContain(`shardwise submit --file-id ${fileId}`);

    const out = join(dir, 'by-id.jsonl');
    const run = await cli('submit', '--file-id', fileId, '--model', EMBED_MODEL, '--wait', '-o', out);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stderr).toContain(`45 texts in 3 shard(s) from ${fileId}`);
    const results = lines<Embedded>(await readFile(out, 'utf8'));
    // .txt lines become items with their line number as id, as with submit.
    expect(results.map((r) => r.id)).toEqual(texts.map((_, i) => String(i + 1)));
    expect(results.map((r) => r.embedding)).toEqual(await reference(texts));

    const second = await cli('submit', '--file-id', fileId, '--model', EMBED_MODEL, '--no-truncate', '--json');
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ counts: { total: 45 }, options: { truncate: false } });
    const both = await cli('submit', file, '--file-id', fileId);
    expect(both.code).toBe(1);
    const missing = await cli('submit', '--object', 'corpora/none.jsonl');
    expect([missing.code, missing.stderr]).toEqual([2, expect.stringContaining('INPUT_NOT_FOUND')]);
  });

  it('submits a .txt file: one text per line, ids are line numbers; --format npy output', async () => {
    const file = join(dir, 'notes.txt');
    await writeFile(file, 'first line\r\nsecond line\n\nfourth line, after a blank one\n');
    const out = join(dir, 'notes.npy');
    const run = await cli('submit', file, '--wait', '--format', 'npy', '--output', out, '--json');
    expect(run.code, run.stderr).toBe(0);
    const view = JSON.parse(run.stdout) as { id: string; state: string; counts: { total: number }; output: { format: string } };
    expect(view).toMatchObject({ state: 'completed', counts: { total: 3 }, output: { format: 'npy' } });
    expect(parseNpy(await readFile(out)).shape).toEqual([3, EMBED_DIMS]);
    const results = lines<Embedded>((await cli('results', view.id)).stdout);
    expect(results.map((r) => r.id)).toEqual(['1', '2', '4']);
    const expected = await reference(['first line', 'second line', 'fourth line, after a blank one']);
    expect(results.map((r) => r.embedding)).toEqual(expected);
  });

  it('passes task options with --option NAME=VALUE, as query parameters of an upload and typed in a JSON job', async () => {
    const file = join(dir, 'options.txt');
    await writeFile(file, 'first line\nsecond line\n');
    const out = join(dir, 'options.npy');
    const run = await cli('submit', file, '--option', 'dimensions=8', '--option', 'prompt_name=query', '--wait', '--output', out, '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ state: 'completed', dimensions: 8, options: { dimensions: 8, prompt_name: 'query' } });
    expect(parseNpy(await readFile(out)).shape).toEqual([2, 8]);

    const uploaded = await cli('upload', file);
    const byId = await cli('submit', '--file-id', uploaded.stdout.trim(), '--option', 'dimensions=4', '--option', 'normalize=false', '--json');
    expect(byId.code, byId.stderr).toBe(0);
    expect(JSON.parse(byId.stdout)).toMatchObject({ dimensions: 4, options: { dimensions: 4, normalize: false } });

    const classify = await cli('submit', file, '--task', 'sentiment', '--option', 'function_to_apply=relu');
    expect([classify.code, classify.stderr]).toEqual([2, expect.stringContaining('function_to_apply')]);
    const noValue = await cli('submit', file, '--option', 'dimensions');
    expect([noValue.code, noValue.stderr]).toEqual([1, expect.stringContaining('--option takes NAME=VALUE')]);
    const jobField = await cli('submit', file, '--option', 'model=x');
    expect([jobField.code, jobField.stderr]).toEqual([1, expect.stringContaining('"model" has its own flag')]);
  });

  it('passes task options as flags of their own (--dimensions 8, --no-normalize, --top-k 1), for their own task only', async () => {
    const file = join(dir, 'flags.txt');
    await writeFile(file, 'first line\nsecond line\n');
    const out = join(dir, 'flags.npy');
    const run = await cli('submit', file, '--dimensions', '8', '--prompt-name', 'query', '--no-normalize', '--wait', '--output', out, '--json');
    expect(run.code, run.stderr).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ state: 'completed', dimensions: 8, options: { dimensions: 8, prompt_name: 'query', normalize: false } });
    expect(parseNpy(await readFile(out)).shape).toEqual([2, 8]);

    // A JSON job (a corpus by reference): the flag's value is typed as --option's is.
    const uploaded = await cli('upload', file);
    const byId = await cli('submit', '--file-id', uploaded.stdout.trim(), '--task', 'classify', '--top-k', '1', '--function-to-apply', 'sigmoid', '--json');
    expect(byId.code, byId.stderr).toBe(0);
    expect(JSON.parse(byId.stdout)).toMatchObject({ task: 'sentiment', options: { top_k: 1, function_to_apply: 'sigmoid' } });

    const otherTask = await cli('submit', file, '--top-k', '3');
    expect([otherTask.code, otherTask.stderr]).toEqual([1, expect.stringContaining('--top-k is an option of sentiment jobs, not embed ones')]);
    const twice = await cli('submit', file, '--dimensions', '4', '--option', 'dimensions=8');
    expect([twice.code, twice.stderr]).toEqual([1, expect.stringContaining('--option dimensions and --dimensions set the same option')]);
    const bad = await cli('submit', file, '--task', 'sentiment', '--function-to-apply', 'relu');
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('function_to_apply')]);
    const help = await cli('--help');
    expect(help.stdout).toContain('sentiment: --top-k N, --function-to-apply softmax|sigmoid|none');
    expect(help.stdout).toContain('rerank: --[no-]raw-scores, --[no-]return-text');
  });

  it('submits a .csv file with quoted commas, quotes and newlines in fields', async () => {
    const file = join(dir, 'reviews.csv');
    const texts = ['plain text', 'a, b, and c', 'she said "hello"', 'first line\nsecond line', 'windows\r\nline end, too'];
    const csv = `${['review_id,stars,body', ...texts.map((t, i) => `r${i},${i + 1},"${t.replace(/"/g, '""')}"`)].join('\r\n')}\r\n`;
    await writeFile(file, csv);
    const out = join(dir, 'reviews.jsonl');
    const run = await cli('submit', file, '--text-column', 'body', '--id-column', 'review_id', '--wait', '--output', out);
    expect(run.code, run.stderr).toBe(0);
    const results = lines<Embedded>(await readFile(out, 'utf8'));
    expect(results.map((r) => r.id)).toEqual(['r0', 'r1', 'r2', 'r3', 'r4']);
    // The texts arrived intact: the same embeddings as the texts sent directly.
    expect(results.map((r) => r.embedding)).toEqual(await reference(texts));
  });

  it('exits 2 for a file the API rejects, naming the line, with nothing on stdout', async () => {
    const file = join(dir, 'dup.jsonl');
    await writeFile(file, '{"id":"a","text":"x"}\n{"id":"b","text":"y"}\n{"id":"a","text":"z"}\n');
    const run = await cli('submit', file, '--wait');
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('line 3');
    expect(run.stderr).toContain('DUPLICATE_ID');
    const json = await cli('submit', file, '--json');
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stderr)).toMatchObject({ error: { code: 'DUPLICATE_ID', status: 400, line: 3, exit_code: 2 } });

    // API line numbers are lines of the CSV file, multi-line fields included.
    const dupCsv = join(dir, 'dup.csv');
    await writeFile(dupCsv, 'id,text\nr1,"two\nlines"\nr2,fine\nr1,again\n');
    const dupRun = await cli('submit', dupCsv, '--id-column', 'id');
    expect(dupRun.code).toBe(2);
    expect(dupRun.stderr).toContain(`${dupCsv}: DUPLICATE_ID: line 5: duplicate id "r1" (already used by line 2)`);

    const badCsv = join(dir, 'bad.csv');
    await writeFile(badCsv, 'text\n"never closed\n');
    expect((await cli('submit', badCsv)).code).toBe(2);
    const unknownTask = await cli('submit', file, '--task', 'translate');
    expect(unknownTask.code).toBe(2);
    expect(unknownTask.stderr).toContain('UNKNOWN_TASK');
    expect((await cli('status', 'job_AAAAAAAAAAAAAAAAAAAAAA')).code).toBe(2);
  });

  it('exits 6 when some items failed, 1 for usage errors and 5 when the API is unreachable', async () => {
    const file = join(dir, 'mixed.txt');
    await writeFile(file, `short\n${'supercalifragilistic '.repeat(200)}\nalso short\n`);
    const run = await cli('submit', file, '--no-truncate', '--wait');
    expect(run.code, run.stderr).toBe(6);
    expect(run.stderr).toContain('1 failed');

    expect((await cli('submit')).code).toBe(1);
    expect((await cli('submit', join(dir, 'missing.jsonl'))).code).toBe(1);
    expect((await cli('frobnicate')).code).toBe(1);
    expect((await cli('status', 'x', '--limit', '3')).code).toBe(1);
    expect((await cli('submit', file, '--output', 'x.jsonl')).code).toBe(1);
    const port = await freePort();
    const down = await start(['status', 'job_AAAAAAAAAAAAAAAAAAAAAA', '--api-url', `http://127.0.0.1:${port}`]).done;
    expect(down.code).toBe(5);
    expect(down.stderr).toContain('cannot reach');
  });

  it('exits 4 when the job it waits for is cancelled', async () => {
    const file = join(dir, 'big.jsonl');
    await writeFile(file, Array.from({ length: 10_000 }, (_, i) => JSON.stringify({ text: `a longer corpus line, number ${i}` })).join('\n'));
    const waiting = start(['submit', file, '--wait'], env);
    const id = (await until('the job id on stderr', () => /submitted (job_[A-Za-z0-9_-]{22})/.exec(waiting.stderr())?.[1], 30_000)) as string;
    const cancel = await cli('cancel', id);
    expect(cancel.code, cancel.stderr).toBe(0);
    expect(cancel.stdout.trim()).toBe(`${id} cancelled`);
    const run = await waiting.done;
    expect(run.code, run.stderr).toBe(4);
    expect(run.stderr).toContain(`${id} cancelled`);
    // Cancelling a cancelled job is a no-op (exit 0); watching it exits with its outcome at once.
    expect((await cli('cancel', id)).code).toBe(0);
    const watched = await cli('watch', id, '--json');
    expect(watched.code).toBe(4);
    expect(JSON.parse(watched.stdout)).toMatchObject({ id, state: 'cancelled' });
  });

  it('sends the API key as a Bearer token (--api-key or SHARDWISE_API_KEY)', async () => {
    const seen: Array<string | undefined> = [];
    const server = createServer((req, res) => {
      seen.push(req.headers.authorization);
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":{"code":"JOB_NOT_FOUND","message":"no such job"}}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const flag = await start(['status', 'job_x', '--api-url', url, '--api-key', 'sk-one']).done;
      expect(flag.code).toBe(2);
      expect(flag.stderr).toContain('JOB_NOT_FOUND');
      await start(['status', 'job_x'], { SHARDWISE_API_URL: url, SHARDWISE_API_KEY: 'sk-two' }).done;
      expect(seen).toEqual(['Bearer sk-one', 'Bearer sk-two']);
    } finally {
      await new Promise((r) => server.close(r));
    }
  });
});
