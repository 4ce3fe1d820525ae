import { Controller, Get, Headers, Param, Query, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiParam, ApiProduces, ApiQuery, ApiResponse as ApiStatus, ApiTags } from '@nestjs/swagger';
import { TASK_MODULES, taskModule } from '#models';
import { Tenant } from '../auth/tenant.decorator.js';
import { ApiError } from '../http/api-error.js';
import type { ApiResponse } from '../http/request.types.js';
import { JobsService } from './jobs.service.js';
import { MIN_ROW_GROUP_ROWS, PARQUET_MEDIA_TYPE, parseRowGroupSize } from './results-parquet.js';
import { ResultsService } from './results.service.js';
import { apiErrorSchema } from '../http/error-body.schema.js';
import { resultLineSchema } from './result-line.schema.js';

/** The tasks whose results are a vector per item, the only ones f32 and npy can hold. */
const VECTOR_TASKS = TASK_MODULES.filter((task) => task.output === 'vector')
  .map((task) => task.name)
  .join(', ');

type ResultFormat = 'ndjson' | 'f32' | 'npy' | 'parquet';

/**
 * Results and errors of a job as NDJSON, or embeddings as raw float32. Binary layout: rows of
 * X-Embedding-Dimensions little-endian float32 values, one row per item in input order over the
 * shards written so far (X-Item-Count rows); items that failed are rows of NaN. `format=npy` sends the
 * same rows as a NumPy .npy file (`<f4`, shape `(X-Item-Count, X-Embedding-Dimensions)`).
 * `format=parquet` sends one Parquet file for either task (columns in results-arrow.ts).
 */
@ApiTags('results')
@Controller('v1/jobs/:id')
export class ResultsController {
  constructor(
    private readonly jobs: JobsService,
    private readonly output: ResultsService,
  ) {}

  @ApiOperation({
    summary: "A job's results in input order: NDJSON, embeddings as raw float32 (format=f32) or .npy (format=npy), or a Parquet file (format=parquet)",
    description:
      'format=parquet (or Accept: application/vnd.apache.parquet), for both tasks: columns id (utf8), index (int64), then embedding (fixed_size_list<float32>[dimensions]) ' +
      'or label (utf8), score (float32), scores (map<utf8, float32>, in the order of the NDJSON line), then truncated (bool), tokens (int32, only for jobs that record token counts), ' +
      'error_code and error_message (utf8, set exactly for failed items; the result columns are null there). Floats are the stored float32 values. ' +
      'Row groups of at most row_group_size rows (by default sized to about 8 MiB), Snappy-compressed, streamed with chunked encoding.',
  })
  @ApiParam({ name: 'id' })
  @ApiQuery({ name: 'format', required: false, schema: { type: 'string', enum: ['ndjson', 'f32', 'npy', 'parquet'] } })
  @ApiQuery({ name: 'partial', required: false, schema: { type: 'boolean' }, description: 'read the shards written so far of a job still running' })
  @ApiQuery({
    name: 'row_group_size',
    required: false,
    schema: { type: 'integer', minimum: MIN_ROW_GROUP_ROWS },
    description: 'format=parquet: at most this many rows per row group (the server may use fewer, to bound its memory)',
  })
  @ApiProduces('application/x-ndjson', 'application/octet-stream', 'application/x-npy', PARQUET_MEDIA_TYPE)
  @ApiOkResponse({
    description:
      'one line per item (see the schema); float32 rows with headers X-Embedding-Dimensions and X-Item-Count; or a Parquet file named <id>.parquet with X-Item-Count rows',
    schema: resultLineSchema,
  })
  @ApiStatus({ status: 400, description: 'INVALID_QUERY (format, row_group_size) or UNSUPPORTED_FORMAT (f32 or npy for a sentiment job)', schema: apiErrorSchema })
  @ApiStatus({ status: 409, description: 'JOB_NOT_FINISHED (unless partial=true)', schema: apiErrorSchema })
  @Get('results')
  async getResults(
    @Tenant() tenant: string,
    @Param('id') id: string,
    @Query('partial') partial: unknown,
    @Query('format') format: unknown,
    @Query('row_group_size') rowGroupSize: unknown,
    @Headers('accept') accept: string | undefined,
    @Res() res: ApiResponse,
  ): Promise<void> {
    const chosen = resultFormat(format, accept);
    const rowGroupRows = parseRowGroupSize(rowGroupSize);
    if (rowGroupRows !== undefined && chosen !== 'parquet')
      throw new ApiError('INVALID_QUERY', 'query parameter "row_group_size" applies to format=parquet only', 400, { field: 'row_group_size' });
    const job = await this.jobs.get(id, tenant);
    assertReadable(job.state, partial);
    if (chosen === 'ndjson') return this.output.streamNdjson(job, 'results', res);
    if (chosen === 'parquet') return this.output.streamParquet(job, res, rowGroupRows);
    if (taskModule(job.task).output !== 'vector') {
      throw new ApiError('UNSUPPORTED_FORMAT', `format=${String(format ?? 'f32')} is only available for ${VECTOR_TASKS} jobs; ${job.task} results are NDJSON or Parquet`, 400, {
        field: 'format',
      });
    }
    await this.output.streamEmbeddings(job, chosen, res);
  }

  @ApiOperation({ summary: "The failed items' lines only" })
  @ApiParam({ name: 'id' })
  @ApiQuery({ name: 'partial', required: false, schema: { type: 'boolean' } })
  @ApiProduces('application/x-ndjson')
  @ApiOkResponse({ description: '{"id","index","error":{"code","message"}} per line', schema: resultLineSchema })
  @Get('errors')
  async getErrors(@Tenant() tenant: string, @Param('id') id: string, @Query('partial') partial: unknown, @Res() res: ApiResponse): Promise<void> {
    const job = await this.jobs.get(id, tenant);
    assertReadable(job.state, partial);
    await this.output.streamNdjson(job, 'errors', res);
  }
}

function resultFormat(format: unknown, accept: string | undefined): ResultFormat {
  if (format === undefined) {
    const accepted = (accept ?? '').toLowerCase();
    if (accepted.includes(PARQUET_MEDIA_TYPE)) return 'parquet';
    return accepted.includes('application/octet-stream') ? 'f32' : 'ndjson';
  }
  if (format === 'ndjson' || format === 'f32' || format === 'npy' || format === 'parquet') return format;
  throw new ApiError('INVALID_QUERY', 'query parameter "format" must be "ndjson", "f32", "npy" or "parquet"', 400, { field: 'format' });
}

/** Output of an unfinished job is incomplete; clients must ask for that explicitly. */
function assertReadable(state: string, partial: unknown): void {
  if ((state === 'queued' || state === 'running') && partial !== 'true') {
    throw new ApiError('JOB_NOT_FINISHED', `job is ${state}; wait until it finishes or pass ?partial=true`, 409);
  }
}
