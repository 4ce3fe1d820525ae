import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ConfigError } from '#shared';
import { TENANT_NAME } from './tenant.js';

/** Per-tenant limits; 0 = unlimited. */
export interface TenantLimits {
  ratePerSecond: number;
  rateBurst: number;
  maxConcurrentJobs: number;
  /** Texts of the tenant's unfinished jobs not yet done (admission budget). */
  maxQueuedTexts: number;
}

interface KeyEntry {
  tenant: string;
  /** SHA-256 of the key (32 bytes); the key itself is never held. */
  digest: Buffer;
}

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

const fileEntrySchema = z
  .object({
    tenant: z.string().regex(TENANT_NAME, 'letters, digits, ".", "_" and "-" only, at most 64'),
    key_sha256: z.string().regex(SHA256_HEX, 'the SHA-256 of the key as 64 hex digits (npm run keys:create prints it)'),
    rate_per_second: z.number().min(0).optional(),
    max_concurrent_jobs: z.number().int().min(0).optional(),
    max_queued_texts: z.number().int().min(0).optional(),
  })
  .strict();
const fileSchema = z.array(fileEntrySchema);

export interface ApiKeySources {
  API_KEYS_FILE?: string;
  API_KEYS?: string;
  RATE_LIMIT_PER_SECOND: number;
  RATE_LIMIT_BURST: number;
  MAX_CONCURRENT_JOBS: number;
  TENANT_MAX_QUEUED_TEXTS: number;
}

/** SHA-256 of a presented key, the form keys are stored and compared in. */
export function keyDigest(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}

/** One consistent set of keys and limits; a reload replaces it whole. */
interface KeySet {
  entries: readonly KeyEntry[];
  limits: ReadonlyMap<string, TenantLimits>;
  defaults: TenantLimits;
}

/**
 * The API keys and per-tenant limits, read at boot from API_KEYS_FILE and/or API_KEYS, and again by
 * reload() when the file changes (ApiKeyReloader). Keys are held as SHA-256 digests only; a lookup
 * compares the presented key's digest with every entry in constant time and without an early exit,
 * so timing says nothing about which entry matched.
 */
export class ApiKeyRegistry {
  private constructor(private keys: KeySet) {}

  static load(env: ApiKeySources): ApiKeyRegistry {
    return new ApiKeyRegistry(ApiKeyRegistry.read(env));
  }

  /**
   * Reads the sources again and swaps in the new set whole, or throws a ConfigError and keeps the
   * current one. A reload never turns authentication off: a set without keys is refused while the
   * current one has some.
   */
  reload(env: ApiKeySources): { keys: number; tenants: number } {
    const next = ApiKeyRegistry.read(env);
    if (next.entries.length === 0 && this.enabled) {
      throw new ConfigError(['the new key set lists no key, which would turn authentication off; keeping the current keys']);
    }
    this.keys = next;
    return { keys: this.keyCount, tenants: this.tenantCount };
  }

  private static read(env: ApiKeySources): KeySet {
    const problems: string[] = [];
    const entries: KeyEntry[] = [];
    const overrides = new Map<string, { rate?: number; jobs?: number; texts?: number }>();
    const add = (where: string, tenant: string, hex: string) => {
      const digest = Buffer.from(hex.toLowerCase(), 'hex');
      if (entries.some((e) => e.digest.equals(digest))) problems.push(`${where}: the same key hash is listed twice`);
      else entries.push({ tenant, digest });
    };

    if (env.API_KEYS_FILE !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(readFileSync(env.API_KEYS_FILE, 'utf8'));
      } catch (error) {
        problems.push(`API_KEYS_FILE=${JSON.stringify(env.API_KEYS_FILE)}: cannot read a JSON array from it (${(error as Error).message})`);
      }
      if (parsed !== undefined) {
        const result = fileSchema.safeParse(parsed);
        if (!result.success) {
          for (const issue of result.error.issues) problems.push(`API_KEYS_FILE entry ${issue.path.join('.') || '(root)'}: ${issue.message}`);
        } else {
          result.data.forEach((entry, i) => {
            add(`API_KEYS_FILE entry ${i}`, entry.tenant, entry.key_sha256);
            const known = overrides.get(entry.tenant) ?? {};
            for (const [field, value, key] of [
              ['rate_per_second', entry.rate_per_second, 'rate'],
              ['max_concurrent_jobs', entry.max_concurrent_jobs, 'jobs'],
              ['max_queued_texts', entry.max_queued_texts, 'texts'],
            ] as const) {
              if (value === undefined) continue;
              if (known[key] !== undefined && known[key] !== value) problems.push(`API_KEYS_FILE entry ${i}: ${field} of tenant "${entry.tenant}" differs from an earlier entry`);
              known[key] = value;
            }
            overrides.set(entry.tenant, known);
          });
        }
      }
    }
    if (env.API_KEYS !== undefined) {
      env.API_KEYS.split(',')
        .map((part) => part.trim())
        .filter((part) => part !== '')
        .forEach((part, i) => {
          const colon = part.lastIndexOf(':');
          const tenant = part.slice(0, colon);
          const hex = part.slice(colon + 1);
          // Never echo the entry: an operator may have pasted a key where its hash belongs.
          if (colon < 0 || !TENANT_NAME.test(tenant)) problems.push(`API_KEYS entry ${i + 1}: expected tenant:sha256hex with a tenant of letters, digits, ".", "_" or "-"`);
          else if (!SHA256_HEX.test(hex)) problems.push(`API_KEYS entry ${i + 1}: "${tenant}:…" must end in the key's SHA-256 as 64 hex digits, not the key itself`);
          else add(`API_KEYS entry ${i + 1}`, tenant, hex);
        });
      if (entries.length === 0 && problems.length === 0) problems.push('API_KEYS is set but lists no key');
    }
    if (problems.length > 0) throw new ConfigError(problems);

    const burst = (rate: number) => (env.RATE_LIMIT_BURST > 0 ? env.RATE_LIMIT_BURST : Math.max(1, 2 * rate));
    const defaults: TenantLimits = {
      ratePerSecond: env.RATE_LIMIT_PER_SECOND,
      rateBurst: burst(env.RATE_LIMIT_PER_SECOND),
      maxConcurrentJobs: env.MAX_CONCURRENT_JOBS,
      maxQueuedTexts: env.TENANT_MAX_QUEUED_TEXTS,
    };
    const limits = new Map<string, TenantLimits>();
    for (const [tenant, o] of overrides) {
      const rate = o.rate ?? defaults.ratePerSecond;
      limits.set(tenant, {
        ratePerSecond: rate,
        rateBurst: burst(rate),
        maxConcurrentJobs: o.jobs ?? defaults.maxConcurrentJobs,
        maxQueuedTexts: o.texts ?? defaults.maxQueuedTexts,
      });
    }
    return { entries, limits, defaults };
  }

  /** False when neither API_KEYS_FILE nor API_KEYS is set: every request is tenant `default`. */
  get enabled(): boolean {
    return this.keys.entries.length > 0;
  }

  get tenantCount(): number {
    return new Set(this.keys.entries.map((e) => e.tenant)).size;
  }

  get keyCount(): number {
    return this.keys.entries.length;
  }

  /** The tenant of a presented key, or null. Every entry is compared, whatever matches first. */
  tenantFor(key: string): string | null {
    const digest = keyDigest(key);
    let found: string | null = null;
    for (const entry of this.keys.entries) {
      // Both sides are 32 bytes, so timingSafeEqual never throws here.
      if (timingSafeEqual(entry.digest, digest) && found === null) found = entry.tenant;
    }
    return found;
  }

  limitsOf(tenant: string): TenantLimits {
    return this.keys.limits.get(tenant) ?? this.keys.defaults;
  }
}
