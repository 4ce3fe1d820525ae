import { Module } from '@nestjs/common';
import { UsageController } from './usage.controller.js';
import { UsageService } from './usage.service.js';

/** GET /v1/usage over the usage ledger the workers write (UsageLedger, from the global RedisModule). */
@Module({
  controllers: [UsageController],
  providers: [UsageService],
})
export class UsageModule {}
