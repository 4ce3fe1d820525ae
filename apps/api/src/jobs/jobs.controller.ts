import { Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiError } from '../http/api-error.js';
import type { ApiRequest, ApiResponse } from '../http/request.types.js';
import { toJobView, type JobView } from './job-view.js';
import { JobSubmissionService } from './job-submission.service.js';
import { JobsService, MAX_PAGE_SIZE } from './jobs.service.js';

export interface JobList {
  object: 'list';
  data: JobView[];
  total: number;
  limit: number;
  offset: number;
  has_more: boolean;
}

@Controller('v1/jobs')
export class JobsController {
  constructor(
    private readonly submission: JobSubmissionService,
    private readonly jobs: JobsService,
  ) {}

  /** application/json for small jobs; NDJSON (parameters in the query) streamed for large ones. */
  @Post()
  @HttpCode(202)
  async submit(@Req() req: ApiRequest, @Res({ passthrough: true }) res: ApiResponse): Promise<JobView> {
    const job = await this.submission.submit(req);
    res.setHeader('Location', `/v1/jobs/${job.id}`);
    return toJobView(job);
  }

  @Get()
  async list(@Query('limit') limitParam: unknown, @Query('offset') offsetParam: unknown): Promise<JobList> {
    const limit = intParam('limit', limitParam, 20, 1, MAX_PAGE_SIZE);
    const offset = intParam('offset', offsetParam, 0, 0, Number.MAX_SAFE_INTEGER);
    const { jobs, total } = await this.jobs.list(limit, offset);
    return { object: 'list', data: jobs.map((job) => toJobView(job)), total, limit, offset, has_more: offset + jobs.length < total };
  }

  @Get(':id')
  async get(@Param('id') id: string): Promise<JobView> {
    return toJobView(await this.jobs.get(id));
  }

  @Post(':id/cancel')
  @HttpCode(200)
  async cancel(@Param('id') id: string): Promise<JobView> {
    return toJobView(await this.jobs.cancel(id));
  }
}

function intParam(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ApiError('INVALID_QUERY', `query parameter "${name}" must be an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'up' : max}`, 400, { field: name });
  }
  return n;
}
