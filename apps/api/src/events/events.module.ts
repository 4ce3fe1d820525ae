import { Module } from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module.js';
import { EventsController } from './events.controller.js';
import { ProgressHub } from './progress-hub.service.js';

/** GET /v1/jobs/:id/events: live progress fed by Redis pub/sub through one subscriber per process. */
@Module({
  imports: [JobsModule],
  controllers: [EventsController],
  providers: [ProgressHub],
  exports: [ProgressHub],
})
export class EventsModule {}
