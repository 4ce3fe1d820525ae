import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { REDIS } from './redis.tokens.js';

const PING_TIMEOUT_MS = 1000;

/** Readiness probe of Redis. */
@Injectable()
export class RedisHealthRepository {
  constructor(@Inject(REDIS) private readonly redis: Redis) {}

  /** True when Redis answers PING in time; a probe must never hang on a dead connection. */
  async ping(): Promise<boolean> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<false>((resolve) => {
      timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
    });
    try {
      return await Promise.race([this.redis.ping().then((reply) => reply === 'PONG'), timeout]);
    } catch {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
}
