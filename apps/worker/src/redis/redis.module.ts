import { Global, Module } from '@nestjs/common';
import { RedisService } from './redis.service.js';

/** The worker's Redis connections, BullMQ's included (see the queue registrations in WorkerModule). */
@Global()
@Module({ providers: [RedisService], exports: [RedisService] })
export class RedisModule {}
