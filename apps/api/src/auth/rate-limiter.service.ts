import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { REDIS } from '../redis/redis.tokens.js';
import type { TenantLimits } from './api-keys.js';

/**
 * Token bucket per tenant, in Redis so every API replica draws from the same bucket. The clock is
 * Redis's (TIME), so replicas with skewed clocks still agree. KEYS[1] bucket hash; ARGV: rate per
 * second, burst, cost. Returns {allowed (0|1), milliseconds until `cost` tokens are there}.
 */
const TOKEN_BUCKET = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait}
`;

interface BucketRedis extends Redis {
  swTokenBucket(key: string, rate: number, burst: number, cost: number): Promise<[number, number]>;
}

export interface RateDecision {
  allowed: boolean;
  /** Whole seconds until a request would be allowed (for Retry-After); 0 when allowed. */
  retryAfterSeconds: number;
}

@Injectable()
export class RateLimiterService {
  private readonly redis: BucketRedis;
  private readonly prefix: string;

  constructor(@Inject(REDIS) redis: Redis, @Inject(API_ENV) env: ApiEnv) {
    // defineCommand sends the script once and EVALSHA afterwards (it reloads it after a Redis restart).
    if (typeof (redis as unknown as Partial<BucketRedis>).swTokenBucket !== 'function') redis.defineCommand('swTokenBucket', { numberOfKeys: 1, lua: TOKEN_BUCKET });
    this.redis = redis as unknown as BucketRedis;
    this.prefix = env.REDIS_PREFIX;
  }

  /** Takes one token from the tenant's bucket; always allowed when the tenant has no rate limit. */
  async take(tenant: string, limits: TenantLimits, cost = 1): Promise<RateDecision> {
    if (!(limits.ratePerSecond > 0)) return { allowed: true, retryAfterSeconds: 0 };
    const [allowed, waitMs] = await this.redis.swTokenBucket(`${this.prefix}:ratelimit:${tenant}`, limits.ratePerSecond, limits.rateBurst, cost);
    return { allowed: allowed === 1, retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(Number(waitMs) / 1000)) };
  }
}
