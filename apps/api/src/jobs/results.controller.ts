import { Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
import type { JobRecord, ResultPart } from '../../../../libs/shared/src/index.js';
import { ApiError } from '../http/api-error.js';
import type { ApiResponse } from '../http/request.types.js';
import { JobsService } from './jobs.service.js';
import { ResultsService } from './results.service.js';

/**
 * Results and errors of a job as NDJSON, or embeddings as raw float32. Binary layout: rows of
 * X-Embedding-Dimensions little-endian float32 values, one row per item in input order over the
 * shards written so far (X-Item-Count rows); items that failed are rows of NaN.
 */
@Controller('v1/jobs/:id')
export class ResultsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly output: ResultsService,
  ) {}

  @Get('results')
  async getResults(
    @Param('id') id: string,
    @Query('partial') partial: unknown,
    @Query('format') format: unknown,
    @Headers('accept') accept: string | undefined,
    @Res() res: ApiResponse,
  ): Promise<void> {
    const binary = wantsBinary(format, accept);
    const job = await this.jobs.get(id);
    assertReadable(job.state, partial);
    if (!binary) return this.sendNdjson(job, 'results', res);
    if (job.task !== 'embed') {
      throw new ApiError('UNSUPPORTED_FORMAT', 'format=f32 is only available for embed jobs; sentiment results are NDJSON', 400, { field: 'format' });
    }
    const items = await this.output.writtenItemCount(job);
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/octet-stream');
    if (job.dimensions !== null) res.setHeader('X-Embedding-Dimensions', String(job.dimensions));
    res.setHeader('X-Item-Count', String(items));
    await this.output.stream(job, 'embeddings', res);
  }

  @Get('errors')
  async getErrors(@Param('id') id: string, @Query('partial') partial: unknown, @Res() res: ApiResponse): Promise<void> {
    const job = await this.jobs.get(id);
    assertReadable(job.state, partial);
    await this.sendNdjson(job, 'errors', res);
  }

  private async sendNdjson(job: JobRecord, part: ResultPart, res: ApiResponse): Promise<void> {
    res.statusCode = 200;
    res.setHeader('Content-Type', 'application/x-ndjson');
    await this.output.stream(job, part, res);
  }
}

function wantsBinary(format: unknown, accept: string | undefined): boolean {
  if (format === undefined) return (accept ?? '').toLowerCase().includes('application/octet-stream');
  if (format === 'f32') return true;
  if (format === 'ndjson') return false;
  throw new ApiError('INVALID_QUERY', 'query parameter "format" must be "ndjson" or "f32"', 400, { field: 'format' });
}

/** Output of an unfinished job is incomplete; clients must ask for that explicitly. */
function assertReadable(state: string, partial: unknown): void {
  if ((state === 'queued' || state === 'running') && partial !== 'true') {
    throw new ApiError('JOB_NOT_FINISHED', `job is ${state}; wait until it finishes or pass ?partial=true`, 409);
  }
}
