import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { REDIS } from '../redis/redis.tokens.js';
import type { TenantLimits } from './api-keys.js';
import { defineScripts, loadScripts } from '#shared';

/** The token bucket: lua/tokenBucket-1.lua. */
const BUCKET_SCRIPTS = loadScripts(new URL('./lua/', import.meta.url));

interface BucketRedis extends Redis {
  sw_tokenBucket(key: string, rate: number, burst: number, cost: number): Promise<[number, number]>;
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
    if (typeof (redis as unknown as Partial<BucketRedis>).sw_tokenBucket !== 'function') defineScripts(redis, BUCKET_SCRIPTS, 'sw_');
    this.redis = redis as unknown as BucketRedis;
    this.prefix = env.REDIS_PREFIX;
  }

  /** Takes one token from the tenant's bucket; always allowed when the tenant has no rate limit. */
  async take(tenant: string, limits: TenantLimits, cost = 1): Promise<RateDecision> {
    if (!(limits.ratePerSecond > 0)) return { allowed: true, retryAfterSeconds: 0 };
    const [allowed, waitMs] = await this.redis.sw_tokenBucket(`${this.prefix}:ratelimit:${tenant}`, limits.ratePerSecond, limits.rateBurst, cost);
    return { allowed: allowed === 1, retryAfterSeconds: allowed === 1 ? 0 : Math.max(1, Math.ceil(Number(waitMs) / 1000)) };
  }
}
