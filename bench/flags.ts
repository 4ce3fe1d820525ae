/** Flag parsing shared by the bench entry points (run.ts, scale.ts): errors name the flag and the value. */

export function positiveInt(name: string, value: string, allowZero = false): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new Error(`--${name} must be a ${allowZero ? 'non-negative' : 'positive'} integer, got ${JSON.stringify(value)}`);
  return n;
}

/** A comma list, blanks dropped. */
export function list(value: string): string[] {
  return value.split(',').map((v) => v.trim()).filter((v) => v !== '');
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
