/**
 * `npm run keys:create -- --tenant acme`: makes a fresh random API key, prints it once, and prints
 * the line that registers its SHA-256 (the API stores and compares hashes only, never keys).
 */
import { createHash, randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { TENANT_NAME } from '../apps/api/src/auth/tenant.js';

const USAGE = 'usage: npm run keys:create -- --tenant NAME [--rate-per-second N] [--max-concurrent-jobs N] [--max-queued-texts N]';

function main(): number {
  let values: { tenant?: string; 'rate-per-second'?: string; 'max-concurrent-jobs'?: string; 'max-queued-texts'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: {
        tenant: { type: 'string' },
        'rate-per-second': { type: 'string' },
        'max-concurrent-jobs': { type: 'string' },
        'max-queued-texts': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (error) {
    console.error(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const tenant = values.tenant ?? '';
  if (!TENANT_NAME.test(tenant)) {
    console.error(`--tenant must be 1-64 letters, digits, ".", "_" or "-"\n${USAGE}`);
    return 2;
  }
  const entry: Record<string, unknown> = { tenant };
  // 256 random bits; the prefix makes leaked keys easy to spot with secret scanners.
  const key = `sw_${randomBytes(32).toString('base64url')}`;
  entry.key_sha256 = createHash('sha256').update(key, 'utf8').digest('hex');
  for (const [flag, field] of [
    ['rate-per-second', 'rate_per_second'],
    ['max-concurrent-jobs', 'max_concurrent_jobs'],
    ['max-queued-texts', 'max_queued_texts'],
  ] as const) {
    const raw = values[flag];
    if (raw === undefined) continue;
    const n = Number(raw);
    const integer = field !== 'rate_per_second';
    if (!Number.isFinite(n) || n < 0 || (integer && !Number.isInteger(n))) {
      console.error(`--${flag} must be a number >= 0${integer ? ' (an integer)' : ''}`);
      return 2;
    }
    entry[field] = n;
  }
  console.log(`API key for tenant "${tenant}" (shown only now: store it in your secret manager):\n\n  ${key}\n`);
  console.log(`Add this entry to the JSON array in API_KEYS_FILE:\n\n  ${JSON.stringify(entry)}\n`);
  console.log(`or append this to the comma list in API_KEYS:\n\n  ${tenant}:${entry.key_sha256 as string}\n`);
  console.log('Clients send it as:  Authorization: Bearer <key>');
  return 0;
}

process.exitCode = main();
