import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRegistry } from '../../apps/api/src/auth/api-keys.js';
import { tenantOf } from '../../apps/api/src/auth/tenant.js';
import type { ApiRequest } from '../../apps/api/src/http/request.types.js';
import { assertPlainJson, badId } from '../../libs/shared/src/index.js';
import { ConfigError } from '../../libs/shared/src/index.js';

const hash = (key: string) => createHash('sha256').update(key).digest('hex');
const base = { RATE_LIMIT_PER_SECOND: 0, RATE_LIMIT_BURST: 0, MAX_CONCURRENT_JOBS: 0, TENANT_MAX_QUEUED_TEXTS: 0 };

describe('ApiKeyRegistry', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sw-keys-unit-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function file(content: unknown): Promise<string> {
    const path = join(dir, `${Math.random().toString(36).slice(2)}.json`);
    await writeFile(path, typeof content === 'string' ? content : JSON.stringify(content));
    return path;
  }

  it('is off with no key source, and every request is tenant "default"', () => {
    const registry = ApiKeyRegistry.load(base);
    expect(registry.enabled).toBe(false);
    expect(registry.tenantArg(undefined)).toBe('default');
  });

  it('reads keys from the file and the env list together; looks them up by SHA-256 only', async () => {
    const path = await file([
      { tenant: 'acme', key_sha256: hash('k-acme'), rate_per_second: 5, max_concurrent_jobs: 3, max_queued_texts: 1000 },
      { tenant: 'acme', key_sha256: hash('k-acme-2').toUpperCase() },
    ]);
    const registry = ApiKeyRegistry.load({ ...base, API_KEYS_FILE: path, API_KEYS: ` globex:${hash('k-globex')} , ` });
    expect(registry.enabled).toBe(true);
    expect([registry.keyCount, registry.tenantCount]).toEqual([3, 2]);
    expect(registry.tenantFor('k-acme')).toBe('acme');
    expect(registry.tenantFor('k-acme-2')).toBe('acme');
    expect(registry.tenantFor('k-globex')).toBe('globex');
    expect(registry.tenantFor(hash('k-acme'))).toBeNull();
    expect(registry.tenantFor('')).toBeNull();
    expect(registry.limitsOf('acme')).toEqual({ ratePerSecond: 5, rateBurst: 10, maxConcurrentJobs: 3, maxQueuedTexts: 1000 });
    expect(registry.limitsOf('globex')).toEqual({ ratePerSecond: 0, rateBurst: 1, maxConcurrentJobs: 0, maxQueuedTexts: 0 });
    expect(() => registry.tenantArg(undefined)).toThrow(/tenantOf/);
    expect(registry.tenantArg('acme')).toBe('acme');
  });

  it('applies the env defaults to tenants without their own limits', () => {
    const registry = ApiKeyRegistry.load({ RATE_LIMIT_PER_SECOND: 10, RATE_LIMIT_BURST: 50, MAX_CONCURRENT_JOBS: 4, TENANT_MAX_QUEUED_TEXTS: 500, API_KEYS: `a:${hash('x')}` });
    expect(registry.limitsOf('a')).toEqual({ ratePerSecond: 10, rateBurst: 50, maxConcurrentJobs: 4, maxQueuedTexts: 500 });
  });

  it('refuses bad configurations with every problem named and no key echoed', async () => {
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ API_KEYS_FILE: await file('not json') }, /cannot read a JSON array/],
      [{ API_KEYS_FILE: await file({ tenant: 'a' }) }, /API_KEYS_FILE entry/],
      [{ API_KEYS_FILE: await file([{ tenant: 'a:b', key_sha256: hash('x') }]) }, /entry 0\.tenant/],
      [{ API_KEYS_FILE: await file([{ tenant: 'a', key_sha256: 'sw_plaintextkey' }]) }, /entry 0\.key_sha256/],
      [{ API_KEYS_FILE: await file([{ tenant: 'a', key_sha256: hash('x'), extra: 1 }]) }, /Unrecognized key/],
      [
        {
          API_KEYS_FILE: await file([
            { tenant: 'a', key_sha256: hash('x') },
            { tenant: 'b', key_sha256: hash('x') },
          ]),
        },
        /listed twice/,
      ],
      [
        {
          API_KEYS_FILE: await file([
            { tenant: 'a', key_sha256: hash('x'), rate_per_second: 1 },
            { tenant: 'a', key_sha256: hash('y'), rate_per_second: 2 },
          ]),
        },
        /differs/,
      ],
      [{ API_KEYS: 'sw_plaintextkey' }, /API_KEYS entry 1/],
      [{ API_KEYS: 'acme:sw_plaintextkey' }, /must end in the key's SHA-256/],
      [{ API_KEYS: ' , ' }, /lists no key/],
    ];
    for (const [env, message] of cases) {
      let error: unknown;
      try {
        ApiKeyRegistry.load({ ...base, ...env });
      } catch (e) {
        error = e;
      }
      expect(error, JSON.stringify(env)).toBeInstanceOf(ConfigError);
      expect((error as Error).message).toMatch(message);
      expect((error as Error).message).not.toContain('sw_plaintextkey');
    }
  });
});

describe('tenantOf', () => {
  it('returns the tenant the middleware set, and fails closed without one', () => {
    expect(tenantOf({ tenant: 'acme' } as ApiRequest)).toBe('acme');
    expect(() => tenantOf({} as ApiRequest)).toThrow(/AuthMiddleware/);
    expect(() => tenantOf({ tenant: '' } as ApiRequest)).toThrow();
  });
});

describe('JSON guards', () => {
  it('walks 100k levels without recursion and refuses depth and prototype keys', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    expect(() => assertPlainJson({ a: deep }, 'metadata')).toThrow(/deeper than 32/);
    expect(() => assertPlainJson(JSON.parse('{"a":{"__proto__":{"x":1}}}'), 'metadata')).toThrow(/__proto__/);
    expect(() => assertPlainJson({ a: [{ constructor: 1 }] }, 'metadata')).toThrow(/constructor/);
    expect(() => assertPlainJson({ a: [1, { b: 'c' }], d: null }, 'metadata')).not.toThrow();
  });

  it('refuses ids with control characters, lone surrogates or too long', () => {
    expect(badId('a\u0000b', 10)).toMatch(/control/);
    expect(badId('a\nb', 10)).toMatch(/control/);
    expect(badId('\ud800', 10)).toMatch(/surrogate/);
    expect(badId('x'.repeat(11), 10)).toMatch(/longer/);
    expect(badId('ok-é-😀', 10)).toBeNull();
  });
});
