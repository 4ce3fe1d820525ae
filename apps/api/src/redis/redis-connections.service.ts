import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { RedisConnections, redisTarget } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';

/**
 * Opens every Redis connection of the API (command, queues, subscribers; see RedisModule) with a
 * throttled error log, and closes them all, bounded, as the last step of shutdown.
 */
@Injectable()
export class RedisConnectionsService extends RedisConnections implements OnApplicationShutdown {
  constructor(@Inject(API_ENV) env: ApiEnv) {
    const logger = new Logger('Redis');
    super(redisTarget(env), (line) => logger.warn(line));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.closeAll();
  }
}
