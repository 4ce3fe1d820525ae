/** Flag parsing shared by the bench entry points (run.ts, scale.ts): errors name the flag and the value. */

export function positiveInt(name: string, value: string, allowZero = false): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}`);
  return n;
}

/** A comma list, blanks dropped. */
export function list(value: string): string[] {
  return value
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
}

/** `K=V,K=V` as an env object (--worker-env, --api-env). */
export function keyValues(name: string, value: string): Record<string, string> {
  return Object.fromEntries(
    list(value).map((kv) => {
      const at = kv.indexOf('=');
      if (at < 1) throw new Error(`--${name}: "${kv}" is not KEY=VALUE`);
      return [kv.slice(0, at), kv.slice(at + 1)];
    }),
  );
}

/** parseArgs options every bench entry point has: repeating disturbed measurements, the report folder, --help. */
export function quietFlagOptions(defaults: { retries: number; quietWait: number }) {
  return {
    'max-other': { type: 'string', default: '0.15' },
    retries: { type: 'string', default: String(defaults.retries) },
    'quiet-wait': { type: 'string', default: String(defaults.quietWait) },
    out: { type: 'string', default: 'bench-results' },
    help: { type: 'boolean', default: false },
  } as const;
}

/** The parsed --max-other, --retries and --quiet-wait (measureQuietly's options, less the log). */
export function quietOptionsOf(flags: { 'max-other': string; retries: string; 'quiet-wait': string }): { maxOther: number; retries: number; quietWait: number } {
  const maxOther = Number(flags['max-other']);
  if (!(maxOther > 0)) throw new Error(`--max-other must be a positive number of cores, got ${JSON.stringify(flags['max-other'])}`);
  return { maxOther, retries: positiveInt('retries', flags.retries, true), quietWait: positiveInt('quiet-wait', flags['quiet-wait'], true) };
}
