/**
 * Exit codes scripts can rely on (docs/cli-webhooks-events.md). Commands that wait for a job
 * (`submit --wait`, `watch`) exit with the job's outcome; the others exit 0 when their request
 * succeeded.
 */
export const ExitCode = {
  /** Done: the job completed with every item succeeded, or the request succeeded. */
  Ok: 0,
  /** Bad command line: unknown command or option, missing argument, unreadable file. */
  Usage: 1,
  /** The input or request was refused: any 4xx from the API (invalid corpus, unknown job, ...), or a file the CLI cannot parse. */
  Rejected: 2,
  /** The job ended `failed` (no item succeeded). */
  JobFailed: 3,
  /** The job ended `cancelled`. */
  JobCancelled: 4,
  /** The API could not be reached, answered 5xx, or broke off a transfer. */
  Unavailable: 5,
  /** The job completed, but some items failed (their lines in the results carry `error`). */
  CompletedWithErrors: 6,
  /** Interrupted (Ctrl-C) while waiting; the job goes on. */
  Interrupted: 130,
} as const;

export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/** An error that ends the command with a given exit code; the message goes to stderr. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    readonly details: { code?: string; status?: number; line?: number; field?: string } = {},
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(message, ExitCode.Usage, { code: 'USAGE' });
