import { Inject, Injectable } from '@nestjs/common';
import type { Redis } from 'ioredis';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { REDIS } from './redis.tokens.js';

/** Tells workers to abort in-flight work of a cancelled job (they subscribe to this channel). */
@Injectable()
export class CancelChannelRepository {
  private readonly channel: string;

  constructor(
    @Inject(REDIS) private readonly redis: Redis,
    @Inject(API_ENV) env: ApiEnv,
  ) {
    this.channel = `${env.REDIS_PREFIX}:cancel`;
  }

  async publish(jobId: string): Promise<void> {
    await this.redis.publish(this.channel, jobId);
  }
}
