#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { TASK_NAMES } from '#models';
import { ApiClient } from './api-client.js';
import { OPTION_FLAGS, PARSE_OPTIONS } from './cli-flags.js';
import * as commands from './commands.js';
import { CliError, ExitCode, usageError, type ExitCodeValue } from './exit-codes.js';
import { flagsHelp, parseArgsOptions } from './option-flags.js';

const DEFAULT_API_URL = 'http://localhost:8080';

const HELP = `shardwise: command-line client of the shardwise batch inference API

Usage:
  shardwise submit <file> [options]     submit a corpus (.jsonl, .txt, .csv/.tsv), streamed as NDJSON
  shardwise submit --file-id ID         run a job on a corpus uploaded before (or --object PATH in the store)
  shardwise upload <file>               upload a corpus once (as NDJSON); prints the file id for --file-id
  shardwise status <id>                 show a job
  shardwise watch <id> [-o FILE]        follow a job with a progress bar until it ends
  shardwise results <id> [-o FILE]      download results (default: NDJSON to stdout)
  shardwise list [--limit N] [--offset N]
  shardwise cancel <id>

Submit options:
  --task ${TASK_NAMES.join('|').padEnd(22)} task (default ${TASK_NAMES[0]}; aliases as the API accepts them)
  --model ID                    model (default: the server's default for the task)
  --truncate / --no-truncate    cut over-long texts (default) or fail them one by one
  --option NAME=VALUE           a task option, repeatable, e.g. --option dimensions=256 or
                                --option function_to_apply=sigmoid; each is a flag too, for the
                                jobs of its task only (--top-k 3 is --option top_k=3):
${flagsHelp(OPTION_FLAGS, '                                ')}
  --metadata JSON               a JSON object stored with the job
  --callback-url URL            webhook called when the job completes, fails or is cancelled
  --text-column NAME            CSV: column with the text (default "text", or the only column)
  --id-column NAME              CSV: column with the id (default: the data row number, from 1)
  --delimiter C                 CSV: field delimiter (default "," and tab for .tsv)
  --input-format jsonl|txt|csv  when the file's extension does not say (submit and upload)
  --file-id ID                  the corpus is a file uploaded before (shardwise upload, POST /v1/files)
  --object PATH                 the corpus is an object at PATH inside the server's store
  -w, --wait                    follow the job with a progress bar until it ends
  -o, --output FILE             with --wait: download the results there ("-" for stdout)

Results options:
  -o, --output FILE             where to write (default "-": stdout)
  --format FORMAT               jsonl (NDJSON lines), f32 (raw float32), npy (NumPy .npy) or parquet
                                (default from the extension of --output: .npy, .f32, .parquet,
                                otherwise jsonl)
  --partial                     read what is done of a job still running

Common options:
  --api-url URL                 API address (env SHARDWISE_API_URL, default ${DEFAULT_API_URL})
  --api-key KEY                 API key, sent as "Authorization: Bearer KEY" (env SHARDWISE_API_KEY)
  --json                        machine output on stdout (job views, lists as the API gives them)
  -q, --quiet                   no progress bar or messages on stderr (errors still)
  -h, --help, --version

Exit codes:
  0 completed (or the request succeeded)   1 usage error          2 rejected by the API (4xx) or unreadable input
  3 job failed                             4 job cancelled        5 API unreachable or server error (5xx)
  6 completed, but some items failed       130 interrupted while waiting (the job goes on)
`;

const COMMON = ['api-url', 'api-key', 'json', 'quiet', 'help', 'version'];
const ALLOWED: Record<string, { args: number; options: string[] }> = {
  submit: {
    args: 1,
    options: [
      'task',
      'model',
      'truncate',
      'no-truncate',
      'option',
      'metadata',
      'callback-url',
      'text-column',
      'id-column',
      'delimiter',
      'input-format',
      'wait',
      'output',
      'format',
      'file-id',
      'object',
      ...Object.keys(parseArgsOptions(OPTION_FLAGS)),
    ],
  },
  upload: { args: 1, options: ['text-column', 'id-column', 'delimiter', 'input-format'] },
  status: { args: 1, options: [] },
  watch: { args: 1, options: ['output', 'format'] },
  results: { args: 1, options: ['output', 'format', 'partial'] },
  list: { args: 0, options: ['limit', 'offset'] },
  cancel: { args: 1, options: [] },
};

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../../../package.json', import.meta.url), 'utf8')) as { version?: string };
    return pkg.version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

async function run(argv: string[]): Promise<ExitCodeValue> {
  let parsed: ReturnType<typeof parseArgs<{ options: typeof PARSE_OPTIONS; allowPositionals: true; strict: true }>>;
  try {
    parsed = parseArgs({ args: argv, options: PARSE_OPTIONS, allowPositionals: true, strict: true });
  } catch (error) {
    throw usageError(`${(error as Error).message.split('\n')[0]} (shardwise --help)`);
  }
  const { values, positionals } = parsed;
  if (values.version) {
    process.stdout.write(`shardwise ${version()}\n`);
    return ExitCode.Ok;
  }
  const [command, ...args] = positionals;
  if (values.help || command === 'help' || command === undefined) {
    if (command === undefined && !values.help) {
      process.stderr.write(HELP);
      return ExitCode.Usage;
    }
    process.stdout.write(HELP);
    return ExitCode.Ok;
  }
  const spec = ALLOWED[command];
  if (spec === undefined) throw usageError(`unknown command ${JSON.stringify(command)} (commands: ${Object.keys(ALLOWED).join(', ')})`);
  for (const name of Object.keys(values)) {
    if (!COMMON.includes(name) && !spec.options.includes(name)) throw usageError(`--${name} does not apply to "${command}"`);
  }
  // A job over a corpus already on the server takes no file.
  const byReference = command === 'submit' && (values['file-id'] !== undefined || values.object !== undefined);
  if (args.length !== spec.args && !(byReference && args.length === 0)) {
    throw usageError(
      spec.args === 0
        ? `"${command}" takes no arguments`
        : `"${command}" takes ${spec.args === 1 ? (command === 'submit' || command === 'upload' ? 'a file' : 'a job id') : `${spec.args} arguments`}`,
    );
  }
  for (const name of ['limit', 'offset'] as const) {
    if (values[name] !== undefined && !/^\d+$/.test(values[name])) throw usageError(`--${name} must be a whole number`);
  }

  const json = values.json === true;
  const quiet = values.quiet === true;
  const io: commands.Output = {
    json,
    quiet,
    out: (text) => process.stdout.write(`${text}\n`),
    info: (text) => {
      if (!quiet) process.stderr.write(`${text}\n`);
    },
  };
  const client = new ApiClient(values['api-url'] ?? process.env.SHARDWISE_API_URL ?? DEFAULT_API_URL, values['api-key'] ?? (process.env.SHARDWISE_API_KEY || undefined));
  const options = values as commands.Options;
  const target = args[0] as string;
  switch (command) {
    case 'submit':
      return commands.submit(client, args[0], options, io);
    case 'upload':
      return commands.upload(client, target, options, io);
    case 'status':
      return commands.status(client, target, io);
    case 'watch':
      return commands.watch(client, target, options, io);
    case 'results':
      return commands.results(client, target, options, io);
    case 'list':
      return commands.list(client, options, io);
    case 'cancel':
      return commands.cancel(client, target, io);
    default:
      throw usageError(`unknown command ${command}`);
  }
}

function report(error: unknown, json: boolean): ExitCodeValue {
  if (error instanceof CliError) {
    process.stderr.write(json ? `${JSON.stringify({ error: { message: error.message, exit_code: error.exitCode, ...error.details } })}\n` : `shardwise: ${error.message}\n`);
    return error.exitCode;
  }
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(json ? `${JSON.stringify({ error: { message, exit_code: ExitCode.Unavailable } })}\n` : `shardwise: ${message}\n`);
  return ExitCode.Unavailable;
}

const argv = process.argv.slice(2);
run(argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.exitCode = report(error, argv.includes('--json'));
  },
);
