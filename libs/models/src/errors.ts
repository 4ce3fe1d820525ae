/**
 * Every error the models library throws. Each has a stable `name` (safe to
 * branch on, and to put in job failure reasons) and a message that says how to
 * fix the problem, because these messages end up in front of API users.
 */

/** A task name that is neither a task nor one of its aliases. */
export class UnknownTaskError extends Error {
  override readonly name = 'UnknownTaskError';
  constructor(task: string, valid: readonly string[]) {
    super(`unknown task "${task}"; use one of: ${valid.join(', ')}`);
  }
}

/** A model id that is malformed or could escape the model directory. */
export class InvalidModelError extends Error {
  override readonly name = 'InvalidModelError';
  constructor(model: string, reason: string) {
    super(`invalid model "${printable(model)}": ${reason}`);
  }
}

/** A well-formed model id that names no model we can find. */
export class UnknownModelError extends Error {
  override readonly name = 'UnknownModelError';
  constructor(model: string, hint: string) {
    super(`unknown model "${printable(model)}": ${hint}`);
  }
}

/** The model exists but cannot serve the requested task. */
export class UnsupportedTaskError extends Error {
  override readonly name = 'UnsupportedTaskError';
  /** `hints`: what each task needs exported (TaskModule.modelHint), e.g. "embed: a base encoder". */
  constructor(model: string, task: string, tasks: readonly string[], hints: readonly string[]) {
    super(`model "${model}" cannot serve task "${task}"; it serves: ${tasks.join(', ') || 'nothing'}. Pick a model exported for that task (${hints.join('; ')}).`);
  }
}

/** The model folder has no ONNX file for the requested dtype. */
export class UnsupportedDtypeError extends Error {
  override readonly name = 'UnsupportedDtypeError';
  constructor(model: string, dtype: string, available: readonly string[]) {
    super(`model "${model}" has no ${dtype} weights (available: ${available.join(', ') || 'none'}); set the pool dtype to one of those or export the missing onnx/ file`);
  }
}

/** The requested execution device cannot be used on this machine. */
export class DeviceUnavailableError extends Error {
  override readonly name = 'DeviceUnavailableError';
  constructor(device: string, how: string) {
    super(`device "${device}" is not available: ${how}`);
  }
}

/** Encode options that make no sense (e.g. topK: 0). */
export class InvalidEncodeOptionsError extends Error {
  override readonly name = 'InvalidEncodeOptionsError';
  constructor(reason: string) {
    super(`invalid encode options: ${reason}`);
  }
}

/** Pool options that make no sense (e.g. threads: 0). */
export class InvalidPoolOptionsError extends Error {
  override readonly name = 'InvalidPoolOptionsError';
  constructor(reason: string) {
    super(`invalid inference pool options: ${reason}`);
  }
}

/** The pool was used before start() or after close(). */
export class PoolStateError extends Error {
  override readonly name = 'PoolStateError';
  constructor(state: 'not-started' | 'closed') {
    super(
      state === 'closed' ? 'inference pool is closed; create a new InferencePool to keep encoding' : 'inference pool is not started; await pool.start() before load() or encode()',
    );
  }
}

/** An inference thread died (native crash, OOM, uncaught error) mid-request. */
export class ThreadCrashedError extends Error {
  override readonly name = 'ThreadCrashedError';
  constructor(thread: number, reason: string) {
    super(
      `inference thread ${thread} crashed (${reason}); the request was lost and the thread has been replaced. ` +
        'Retry the request; if it keeps happening lower maxBatchTokens or check memory limits.',
    );
  }
}

/** An inference thread died before it was ready (bad build, transformers.js failing to import). */
export class ThreadStartError extends Error {
  override readonly name = 'ThreadStartError';
  constructor(thread: number, reason: string) {
    super(
      `inference thread ${thread} failed to start (${reason}); check that the build is current ` +
        '(npx tsc -p tsconfig.build.json) and that node -e "import(\'@huggingface/transformers\')" works',
    );
  }
}

/** Raised inside a thread when a model fails to load; carries the underlying reason. */
export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';
  constructor(model: string, reason: string) {
    super(`could not load model "${model}": ${reason}`);
  }
}

/** The thread entry file is missing (sources used without a build). */
export class ThreadEntryMissingError extends Error {
  override readonly name = 'ThreadEntryMissingError';
  constructor(path: string) {
    super(`inference thread entry not found at ${path}; run "npx tsc -p tsconfig.build.json" (or npm run build) first`);
  }
}

/** An encode() request was aborted through its AbortSignal. */
export class AbortError extends Error {
  override readonly name = 'AbortError';
  constructor(reason?: unknown) {
    super('encode request was aborted', reason === undefined ? undefined : { cause: reason });
  }
}

/** Keeps NUL and other control characters out of log lines. */
function printable(value: string): string {
  const shown = value.length > 120 ? `${value.slice(0, 120)}…` : value;
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
  return shown.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** A file of a Hub repository could not be read: the endpoint answered an error, or did not answer in time. */
export class HubFileError extends Error {
  override readonly name = 'HubFileError';
  /** `status`: the HTTP status, or undefined when no answer came (network error, timeout). */
  constructor(
    readonly url: string,
    reason: string,
    readonly status?: number,
  ) {
    super(`cannot read ${url}: ${reason}`);
  }
}
