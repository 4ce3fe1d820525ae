import { Controller, Get, Headers, Param, Query, Req, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiProduces, ApiQuery, ApiResponse as ApiStatus, ApiTags } from '@nestjs/swagger';
import { Shardwise } from '../docs/schemas.js';
import { tenantOf } from '../auth/tenant.js';
import { ApiError } from '../http/api-error.js';
import type { ApiRequest, ApiResponse } from '../http/request.types.js';
import { JobsService } from './jobs.service.js';
import { ResultsService } from './results.service.js';

/**
 * Results and errors of a job as NDJSON, or embeddings as raw float32. Binary layout: rows of
 * X-Embedding-Dimensions little-endian float32 values, one row per item in input order over the
 * shards written so far (X-Item-Count rows); items that failed are rows of NaN. `format=npy` sends the
 * same rows as a NumPy .npy file (`<f4`, shape `(X-Item-Count, X-Embedding-Dimensions)`).
 */
@ApiTags('results')
@Controller('v1/jobs/:id')
export class ResultsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly output: ResultsService,
  ) {}

  @ApiOperation({ summary: "A job's results in input order: NDJSON, or embeddings as raw float32 (format=f32) or .npy (format=npy)" })
  @ApiParam({ name: 'id' })
  @ApiQuery({ name: 'format', required: false, schema: { type: 'string', enum: ['ndjson', 'f32', 'npy'] } })
  @ApiQuery({ name: 'partial', required: false, schema: { type: 'boolean' }, description: 'read the shards written so far of a job still running' })
  @ApiProduces('application/x-ndjson', 'application/octet-stream')
  @ApiOkResponse({ description: 'one line per item (see the schema), or float32 rows with headers X-Embedding-Dimensions and X-Item-Count', schema: Shardwise.resultLine })
  @ApiStatus({ status: 409, description: 'JOB_NOT_FINISHED (unless partial=true)', schema: Shardwise.error })
  @Get('results')
  async getResults(
    @Req() req: ApiRequest,
    @Param('id') id: string,
    @Query('partial') partial: unknown,
    @Query('format') format: unknown,
    @Headers('accept') accept: string | undefined,
    @Res() res: ApiResponse,
  ): Promise<void> {
    const binary = wantsBinary(format, accept);
    const job = await this.jobs.get(id, tenantOf(req));
    assertReadable(job.state, partial);
    if (!binary) return this.output.streamNdjson(job, 'results', res);
    if (job.task !== 'embed') {
      throw new ApiError('UNSUPPORTED_FORMAT', `format=${String(format ?? 'f32')} is only available for embed jobs; sentiment results are NDJSON`, 400, { field: 'format' });
    }
    await this.output.streamEmbeddings(job, format === 'npy' ? 'npy' : 'f32', res);
  }

  @ApiOperation({ summary: "The failed items' lines only" })
  @ApiParam({ name: 'id' })
  @ApiQuery({ name: 'partial', required: false, schema: { type: 'boolean' } })
  @ApiProduces('application/x-ndjson')
  @ApiOkResponse({ description: '{"id","index","error":{"code","message"}} per line', schema: Shardwise.resultLine })
  @Get('errors')
  async getErrors(@Req() req: ApiRequest, @Param('id') id: string, @Query('partial') partial: unknown, @Res() res: ApiResponse): Promise<void> {
    const job = await this.jobs.get(id, tenantOf(req));
    assertReadable(job.state, partial);
    await this.output.streamNdjson(job, 'errors', res);
  }
}

function wantsBinary(format: unknown, accept: string | undefined): boolean {
  if (format === undefined) return (accept ?? '').toLowerCase().includes('application/octet-stream');
  if (format === 'f32' || format === 'npy') return true;
  if (format === 'ndjson') return false;
  throw new ApiError('INVALID_QUERY', 'query parameter "format" must be "ndjson", "f32" or "npy"', 400, { field: 'format' });
}

/** Output of an unfinished job is incomplete; clients must ask for that explicitly. */
function assertReadable(state: string, partial: unknown): void {
  if ((state === 'queued' || state === 'running') && partial !== 'true') {
    throw new ApiError('JOB_NOT_FINISHED', `job is ${state}; wait until it finishes or pass ?partial=true`, 409);
  }
}
