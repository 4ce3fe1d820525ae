import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Reflector } from '@nestjs/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApiKeyRegistry } from '../../apps/api/src/auth/api-keys.js';
import { AuthGuard } from '../../apps/api/src/auth/auth.guard.js';
import type { RateLimiterService } from '../../apps/api/src/auth/rate-limiter.service.js';
import { tenantOf } from '../../apps/api/src/auth/tenant.js';
import { ApiError } from '../../apps/api/src/http/api-error.js';
import { EarlyRefusal } from '../../apps/api/src/http/early-refusal.js';
import type { ErrorResponder } from '../../apps/api/src/http/error-responder.js';
import type { ApiRequest } from '../../apps/api/src/http/request.types.js';
import { assertPlainJson, badId, ConfigError } from '#shared';

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
  it('returns the tenant the guard set, and fails closed without one', () => {
    expect(tenantOf({ tenant: 'acme' } as ApiRequest)).toBe('acme');
    expect(() => tenantOf({} as ApiRequest)).toThrow(/AuthGuard/);
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

describe('AuthGuard.authenticate', () => {
  const allowAll = { take: async () => ({ allowed: true, retryAfterSeconds: 0 }) } as unknown as RateLimiterService;
  const guard = (registry: ApiKeyRegistry, limiter = allowAll) => new AuthGuard(registry, limiter, {} as ErrorResponder, new Reflector());
  const req = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as ApiRequest;
  const refusal = async (promise: Promise<void>): Promise<ApiError> => {
    const error = await promise.then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(EarlyRefusal);
    const inner = (error as EarlyRefusal).error;
    expect(inner).toBeInstanceOf(ApiError);
    return inner as ApiError;
  };

  it('makes every request tenant "default" while auth is off', async () => {
    const request = req();
    await guard(ApiKeyRegistry.load(base)).authenticate(request);
    expect(tenantOf(request)).toBe('default');
  });

  it('sets the tenant of a valid key; refuses a missing or unknown one with 401 and WWW-Authenticate', async () => {
    const auth = guard(ApiKeyRegistry.load({ ...base, API_KEYS: `acme:${hash('k-acme')}` }));
    const request = req('Bearer k-acme');
    await auth.authenticate(request);
    expect(tenantOf(request)).toBe('acme');
    for (const header of [undefined, 'Bearer nope', 'Basic k-acme']) {
      const error = await refusal(auth.authenticate(req(header)));
      expect([error.status, error.code, error.headers['WWW-Authenticate']]).toEqual([401, 'UNAUTHORIZED', 'Bearer realm="shardwise"']);
    }
  });

  it('refuses a rate-limited tenant with 429 RATE_LIMITED and Retry-After', async () => {
    const limiter = { take: async () => ({ allowed: false, retryAfterSeconds: 3 }) } as unknown as RateLimiterService;
    const error = await refusal(guard(ApiKeyRegistry.load(base), limiter).authenticate(req()));
    expect([error.status, error.code, error.headers['Retry-After']]).toEqual([429, 'RATE_LIMITED', '3']);
  });
});
