import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { resolveTask, taskModule } from '#models';
import { apiError, type ApiClient, type JobList, type JobView } from './api-client.js';
import { OPTION_FLAGS } from './cli-flags.js';
import { CorpusSource, detectFormat } from './corpus/corpus-source.js';
import { downloadResults, resultFormat, type Downloaded } from './download.js';
import { CliError, ExitCode, usageError, type ExitCodeValue } from './exit-codes.js';
import { followJob } from './follow.js';
import { flagOptions } from './option-flags.js';
import { bytes, duration, ProgressBar } from './progress.js';

export interface Output {
  json: boolean;
  quiet: boolean;
  /** Data: job ids, views, tables. */
  out(text: string): void;
  /** Messages for people: progress, summaries, hints. */
  info(text: string): void;
}

export type Options = Record<string, string | boolean | string[] | undefined>;

const str = (options: Options, name: string): string | undefined => {
  const value = options[name];
  return typeof value === 'string' ? value : undefined;
};

/** The outcome of a finished job as an exit code. */
export function exitCodeOf(job: JobView): ExitCodeValue {
  if (job.state === 'failed') return ExitCode.JobFailed;
  if (job.state === 'cancelled') return ExitCode.JobCancelled;
  if (job.state === 'completed') return job.counts.failed > 0 ? ExitCode.CompletedWithErrors : ExitCode.Ok;
  return ExitCode.Ok;
}

/** Fields of a job that are not task options (their flags: --task, --model, --metadata, --callback-url). */
const JOB_FIELDS = ['task', 'model', 'metadata', 'callback_url', 'expires_after', 'input_file_id', 'input_object'];

/**
 * The task options of `--option NAME=VALUE` (repeatable) and of their flags (`--top-k 3`), by API name, as strings: an NDJSON upload
 * sends them as query parameters, which the API validates and converts; `asBodyOptions` types them
 * for a JSON body. The API names what is wrong with one.
 */
function taskOptions(options: Options): Record<string, string> {
  const flagged = flagOptions(OPTION_FLAGS, options, canonicalTask(str(options, 'task') ?? 'embed'));
  if (flagged.problem !== undefined) throw usageError(flagged.problem);
  const given = options.option;
  const pairs: Record<string, string> = {};
  for (const pair of Array.isArray(given) ? given : []) {
    const equals = pair.indexOf('=');
    if (equals <= 0) throw usageError(`--option takes NAME=VALUE (e.g. --option dimensions=256), got ${JSON.stringify(pair)}`);
    const name = pair.slice(0, equals);
    if (name === 'truncate') throw usageError('use --truncate or --no-truncate rather than --option truncate=...');
    if (JOB_FIELDS.includes(name)) throw usageError(`--option sets task options; "${name}" has its own flag (shardwise --help)`);
    if (Object.hasOwn(pairs, name)) throw usageError(`--option ${name} is given twice`);
    pairs[name] = pair.slice(equals + 1);
  }
  for (const [name, value] of Object.entries(flagged.options)) {
    if (Object.hasOwn(pairs, name)) throw usageError(`--option ${name} and --${name.replaceAll('_', '-')} set the same option`);
    pairs[name] = value;
  }
  return pairs;
}

/** The canonical name of a --task value, or undefined when unknown (the API then names the valid ones). */
function canonicalTask(task: string): string | undefined {
  try {
    return resolveTask(task);
  } catch {
    return undefined;
  }
}

/** `--option` values typed as the API's JSON body takes them: through the task's query-string schema (`"256"` -> 256), as given when it refuses them (the API then names the problem). */
function asBodyOptions(task: string, pairs: Readonly<Record<string, string>>): Record<string, unknown> {
  let module: ReturnType<typeof taskModule> | undefined;
  try {
    module = taskModule(resolveTask(task));
  } catch {
    module = undefined;
  }
  return Object.fromEntries(
    Object.entries(pairs).map(([name, value]) => {
      const parsed = module?.options[name]?.query.safeParse(value);
      return [name, parsed?.success ? parsed.data : value];
    }),
  );
}

/** Options of a submission shared by a corpus sent with the job and one named by reference. */
function jobParams(options: Options): { task: string; model?: string; truncate?: string; metadata?: string; callback_url?: string; options: Record<string, string> } {
  if (options.truncate && options['no-truncate']) throw usageError('--truncate and --no-truncate exclude each other');
  const metadata = str(options, 'metadata');
  if (metadata !== undefined) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(metadata);
    } catch {
      throw usageError('--metadata must be a JSON object, e.g. --metadata \'{"batch":"b1"}\'');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw usageError('--metadata must be a JSON object');
  }
  return {
    task: str(options, 'task') ?? 'embed',
    model: str(options, 'model'),
    truncate: options['no-truncate'] ? 'false' : options.truncate ? 'true' : undefined,
    metadata,
    callback_url: str(options, 'callback-url'),
    options: taskOptions(options),
  };
}

/** A local corpus file (.jsonl, .txt, .csv/.tsv) as NDJSON chunks, with its size for the progress bar. */
async function openCorpus(file: string, options: Options): Promise<{ source: CorpusSource; size: number }> {
  const detected = detectFormat(file, str(options, 'input-format'));
  const delimiter = str(options, 'delimiter') ?? detected.delimiter;
  if (detected.format !== 'csv') {
    for (const name of ['text-column', 'id-column', 'delimiter']) {
      if (options[name] !== undefined) throw usageError(`--${name} applies to .csv files only`);
    }
  }
  let size: number;
  try {
    const info = await stat(file);
    if (!info.isFile()) throw new Error('not a regular file');
    size = info.size;
  } catch (error) {
    throw usageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  const source = new CorpusSource(file, { format: detected.format, textColumn: str(options, 'text-column'), idColumn: str(options, 'id-column'), delimiter });
  return { source, size };
}

/** The corpus's NDJSON chunks, moving the progress bar as they are read. */
async function* withProgress(source: CorpusSource, size: number, bar: ProgressBar): AsyncGenerator<Buffer> {
  for await (const chunk of source.chunks()) {
    yield chunk;
    bar.uploading(source.bytesRead, size);
  }
  bar.uploaded(size);
}

/**
 * Submits a job: a local file streamed as NDJSON, or (`file` undefined) a corpus already in the
 * server's store named with --file-id (from `shardwise upload`) or --object (a path in the store).
 */
export async function submit(client: ApiClient, file: string | undefined, options: Options, io: Output): Promise<ExitCodeValue> {
  const params = jobParams(options);
  const wait = options.wait === true;
  const output = str(options, 'output');
  if (output !== undefined && !wait) throw usageError('--output needs --wait (or download later: shardwise results <id> -o FILE)');
  const format = resultFormat(str(options, 'format'), output);
  if (str(options, 'format') !== undefined && output === undefined) throw usageError('--format needs --output');
  const fileId = str(options, 'file-id');
  const object = str(options, 'object');
  const named = [file, fileId, object].filter((v) => v !== undefined).length;
  if (named !== 1) throw usageError('"submit" takes a file, or --file-id ID, or --object PATH (exactly one)');

  let job: JobView;
  if (file === undefined) {
    for (const name of ['text-column', 'id-column', 'delimiter', 'input-format']) {
      if (options[name] !== undefined) throw usageError(`--${name} applies to a file sent with the job`);
    }
    const body: Record<string, unknown> = { task: params.task, ...(fileId !== undefined ? { input_file_id: fileId } : { input_object: object }) };
    if (params.model !== undefined) body.model = params.model;
    const bodyOptions = asBodyOptions(params.task, params.options);
    if (params.truncate !== undefined) bodyOptions.truncate = params.truncate === 'true';
    if (Object.keys(bodyOptions).length > 0) body.options = bodyOptions;
    if (params.metadata !== undefined) body.metadata = JSON.parse(params.metadata) as unknown;
    if (params.callback_url !== undefined) body.callback_url = params.callback_url;
    job = await client.submitJson(body);
    io.info(`submitted ${job.id}: ${job.counts.total.toLocaleString('en-US')} texts in ${job.shards.total} shard(s) from ${fileId ?? object}, ${job.task} with ${job.model}`);
  } else {
    const { source, size } = await openCorpus(file, options);
    const bar = new ProgressBar(process.stderr, !io.quiet);
    const started = Date.now();
    const { options: pairs, ...query } = params;
    const answer = await client.upload({ ...query, ...pairs }, withProgress(source, size, bar));
    bar.finish();
    if (answer.status !== 202) throw lineError(file, apiError(answer.status, answer.text));
    job = JSON.parse(answer.text) as JobView;
    io.info(
      `submitted ${job.id}: ${job.counts.total.toLocaleString('en-US')} texts in ${job.shards.total} shard(s), ${job.task} with ${job.model} (${bytes(size)} in ${duration((Date.now() - started) / 1000)})`,
    );
  }
  if (!wait) {
    io.out(io.json ? JSON.stringify(job) : job.id);
    return ExitCode.Ok;
  }
  return waitAndFetch(client, job.id, { output, format, printId: output !== '-' }, io);
}

/**
 * Uploads a local corpus once to the server's store (POST /v1/files, purpose user_data), converted
 * to NDJSON items like `submit` does, and prints its file id: `shardwise submit --file-id ID` then
 * runs it with any model or options without sending it again.
 */
export async function upload(client: ApiClient, file: string, options: Options, io: Output): Promise<ExitCodeValue> {
  const { source, size } = await openCorpus(file, options);
  const bar = new ProgressBar(process.stderr, !io.quiet);
  const started = Date.now();
  const answer = await client.uploadFile(basename(file), withProgress(source, size, bar));
  bar.finish();
  if (answer.status !== 200) throw lineError(file, apiError(answer.status, answer.text));
  const uploaded = JSON.parse(answer.text) as { id: string; bytes: number };
  io.info(
    `uploaded ${file} as ${uploaded.id} (${bytes(uploaded.bytes)} of NDJSON in ${duration((Date.now() - started) / 1000)}); run it with: shardwise submit --file-id ${uploaded.id}`,
  );
  io.out(io.json ? answer.text.trim() : uploaded.id);
  return ExitCode.Ok;
}

/** The API's messages name the line ("line 7: ..."), which is the line of the file (see CorpusSource). */
function lineError(file: string, error: CliError): CliError {
  return error.details.line !== undefined ? new CliError(`${file}: ${error.message}`, error.exitCode, error.details) : error;
}

export async function watch(client: ApiClient, id: string, options: Options, io: Output): Promise<ExitCodeValue> {
  const output = str(options, 'output');
  if (str(options, 'format') !== undefined && output === undefined) throw usageError('--format needs --output');
  return waitAndFetch(client, id, { output, format: resultFormat(str(options, 'format'), output), printId: false }, io);
}

/** Follows the job with a progress bar, then downloads its results when asked; exits with the job's outcome. */
async function waitAndFetch(
  client: ApiClient,
  id: string,
  options: { output: string | undefined; format: ReturnType<typeof resultFormat>; printId: boolean },
  io: Output,
): Promise<ExitCodeValue> {
  const bar = new ProgressBar(process.stderr, !io.quiet);
  const interrupt = () => {
    bar.finish();
    process.stderr.write(`interrupted: job ${id} goes on; follow it with "shardwise watch ${id}" or stop it with "shardwise cancel ${id}"\n`);
    process.exit(ExitCode.Interrupted);
  };
  process.once('SIGINT', interrupt);
  let job: JobView;
  try {
    job = await followJob(client, id, (view) => bar.update(view));
    bar.update(job, true);
  } finally {
    bar.finish();
    process.removeListener('SIGINT', interrupt);
  }
  io.info(summary(job));
  let downloaded: Downloaded | null = null;
  if (options.output !== undefined && (job.state === 'completed' || job.state === 'failed')) {
    downloaded = await downloadResults(client, id, { format: options.format, output: options.output });
    if (options.output !== '-') io.info(describeDownload(downloaded));
  } else if (options.output !== undefined) {
    io.info(`no results written: the job was ${job.state} (shardwise results ${id} --partial -o FILE reads what was done)`);
  }
  if (io.json) io.out(JSON.stringify(downloaded === null ? job : { ...job, output: downloaded }));
  else if (options.printId) io.out(job.id);
  return exitCodeOf(job);
}

export async function status(client: ApiClient, id: string, io: Output): Promise<ExitCodeValue> {
  const job = await client.getJob(id);
  io.out(io.json ? JSON.stringify(job) : describeJob(job));
  return ExitCode.Ok;
}

export async function results(client: ApiClient, id: string, options: Options, io: Output): Promise<ExitCodeValue> {
  const output = str(options, 'output') ?? '-';
  const downloaded = await downloadResults(client, id, {
    format: resultFormat(str(options, 'format'), output === '-' ? undefined : output),
    output,
    partial: options.partial === true,
  });
  if (output !== '-') {
    io.info(describeDownload(downloaded));
    if (io.json) io.out(JSON.stringify(downloaded));
  }
  return ExitCode.Ok;
}

export async function list(client: ApiClient, options: Options, io: Output): Promise<ExitCodeValue> {
  const page = await client.json<JobList>('GET', 'v1/jobs', { limit: str(options, 'limit'), offset: str(options, 'offset') });
  if (io.json) {
    io.out(JSON.stringify(page));
    return ExitCode.Ok;
  }
  const rows = page.data.map((job) => [
    job.id,
    job.state,
    job.task,
    `${(job.counts.succeeded + job.counts.failed).toLocaleString('en-US')}/${job.counts.total.toLocaleString('en-US')}`,
    job.counts.failed > 0 ? job.counts.failed.toLocaleString('en-US') : '0',
    job.created_at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
    job.model,
  ]);
  io.out(table([['ID', 'STATE', 'TASK', 'DONE/TOTAL', 'FAILED', 'CREATED', 'MODEL'], ...rows]));
  if (page.has_more) io.info(`${page.total} jobs in all; more with --offset ${page.offset + page.data.length}`);
  return ExitCode.Ok;
}

export async function cancel(client: ApiClient, id: string, io: Output): Promise<ExitCodeValue> {
  const job = await client.json<JobView>('POST', `v1/jobs/${encodeURIComponent(id)}/cancel`);
  io.out(io.json ? JSON.stringify(job) : `${job.id} ${job.state}`);
  return ExitCode.Ok;
}

function summary(job: JobView): string {
  const done = job.counts.succeeded + job.counts.failed;
  const seconds = job.started_at && job.finished_at ? (Date.parse(job.finished_at) - Date.parse(job.started_at)) / 1000 : null;
  const time = seconds === null ? '' : ` in ${duration(seconds)} (${Math.round(job.throughput.texts_per_second ?? 0).toLocaleString('en-US')} texts/s)`;
  const failed = job.counts.failed > 0 ? `, ${job.counts.failed.toLocaleString('en-US')} failed (see: shardwise results ${job.id} | grep '"error"')` : '';
  return `${job.id} ${job.state}: ${job.counts.succeeded.toLocaleString('en-US')} of ${job.counts.total.toLocaleString('en-US')} texts succeeded${failed}${time}${
    job.state === 'cancelled' ? ` (${done.toLocaleString('en-US')} done before the cancel)` : ''
  }${job.error ? `; error: ${job.error}` : ''}`;
}

function describeDownload(d: Downloaded): string {
  const shape = d.format === 'jsonl' ? '' : d.format === 'parquet' ? `, ${d.items ?? '?'} rows` : `, ${d.items ?? '?'} x ${d.dimensions ?? '?'} float32`;
  return `wrote ${d.path} (${d.format}, ${bytes(d.bytes)}${shape})`;
}

function describeJob(job: JobView): string {
  const n = (v: number) => v.toLocaleString('en-US');
  const lines: Array<[string, string]> = [
    ['task', `${job.task} with ${job.model}`],
    ['texts', `${n(job.counts.total)} total, ${n(job.counts.succeeded)} succeeded, ${n(job.counts.failed)} failed, ${n(job.truncated)} truncated`],
    ['shards', `${n(job.shards.done)}/${n(job.shards.total)} done, ${n(job.shards.failed)} failed`],
    ['tokens', n(job.tokens_processed)],
    ['created', job.created_at],
  ];
  if (job.started_at) lines.push(['started', job.started_at]);
  if (job.finished_at) lines.push(['finished', job.finished_at]);
  if (job.throughput.texts_per_second !== null) {
    lines.push(['throughput', `${n(Math.round(job.throughput.texts_per_second))} texts/s, ${n(Math.round(job.throughput.tokens_per_second ?? 0))} tokens/s`]);
  }
  if (job.dimensions !== null) lines.push(['dimensions', String(job.dimensions)]);
  if (job.error) lines.push(['error', job.error]);
  return [`${job.id}  ${job.state}`, ...lines.map(([k, v]) => `  ${k.padEnd(11)}${v}`)].join('\n');
}

function table(rows: string[][]): string {
  const widths = rows[0]?.map((_, col) => Math.max(...rows.map((row) => (row[col] ?? '').length))) ?? [];
  return rows.map((row) => row.map((cell, col) => (col === row.length - 1 ? cell : cell.padEnd(widths[col] ?? 0))).join('  ')).join('\n');
}
