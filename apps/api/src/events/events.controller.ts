import { Controller, Get, Inject, Param, Res } from '@nestjs/common';
import { Tenant } from '../auth/tenant.decorator.js';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import type { ApiResponse } from '../http/request.types.js';
import { JobsService } from '../jobs/jobs.service.js';
import { JobEventStream } from './job-event-stream.js';
import { ProgressHub } from './progress-hub.service.js';

/** Live progress of a job as server-sent events (see JobEventStream for the sequence). */
@Controller('v1/jobs/:id')
export class EventsController {
  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    private readonly jobs: JobsService,
    private readonly hub: ProgressHub,
  ) {}

  @Get('events')
  async events(@Param('id') id: string, @Tenant() tenant: string, @Res() res: ApiResponse): Promise<void> {
    // Unknown ids (and other tenants' jobs) get the usual 404 JSON error, before the stream starts.
    await this.jobs.get(id, tenant);
    const stream = new JobEventStream(res, this.env.SSE_HEARTBEAT_MS);
    stream.open();
    let unwatch: () => void;
    try {
      // Subscribed before the job is read again below, so no update can fall in between.
      unwatch = await this.hub.watch(id, { update: (job) => stream.update(job), close: () => stream.end() });
    } catch {
      stream.end();
      return;
    }
    stream.whenEnded(unwatch);
    if (stream.ended) return;
    try {
      stream.update(await this.jobs.get(id, tenant));
    } catch (error) {
      if ((error as { code?: string }).code === 'JOB_NOT_FOUND') stream.update(null);
      else stream.end();
    }
  }
}
