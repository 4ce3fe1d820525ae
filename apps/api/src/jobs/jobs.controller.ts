import { applyDecorators, Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiResponse as ApiStatus, ApiTags, type SchemaObject } from '@nestjs/swagger';
import { Tenant } from '../auth/tenant.decorator.js';
import { ApiError } from '../http/api-error.js';
import type { ApiRequest, ApiResponse } from '../http/request.types.js';
import { TASK_MODULES, TASK_OPTIONS } from '#models';
import { toJobView, type JobView } from '#shared';
import { JobSubmissionService } from './job-submission.service.js';
import { JobsService, MAX_PAGE_SIZE } from './jobs.service.js';
import { openApiSchemaOf } from '../docs/schema-builders.js';
import { apiErrorSchema } from '../http/error-body.schema.js';
import { jobQuerySchema, jobRequestSchema, ndjsonBodySchema } from '../ingest/job-request.schema.js';
import { jobListSchema, jobViewSchema } from './job-view.schema.js';

/** The job options, for the docs: `truncate; pooling, normalize, ... for embed; top_k, ... for sentiment; ...`. */
const OPTIONS_BY_TASK = [
  ...TASK_OPTIONS.filter(({ task }) => task === undefined).map(({ name }) => name),
  ...TASK_MODULES.map((task) => `${Object.keys(task.options).join(', ')} for ${task.name}`),
].join('; ');

export interface JobList {
  object: 'list';
  data: JobView[];
  total: number;
  limit: number;
  offset: number;
  has_more: boolean;
}

/** The query parameters of an NDJSON upload, as their validator (jobQuerySchema) states them. */
const ApiNdjsonQuery = () =>
  applyDecorators(
    ...Object.entries(openApiSchemaOf(jobQuerySchema).properties as Record<string, SchemaObject>).map(([name, { description, ...schema }]) =>
      ApiQuery({ name, required: false, description: `NDJSON bodies only: ${description}`, schema }),
    ),
  );

@ApiTags('jobs')
@Controller('v1/jobs')
export class JobsController {
  constructor(
    private readonly submission: JobSubmissionService,
    private readonly jobs: JobsService,
  ) {}

  /** application/json for small jobs; NDJSON (parameters in the query) streamed for large ones. */
  @ApiOperation({
    summary: 'Submit a job',
    description: `application/json for small jobs (inputs), or for a corpus already in the store (input_file_id: a file from POST /v1/files; input_object: a path the operator put in the store), which is read where it is and never copied; a streamed NDJSON body (application/x-ndjson or application/jsonl, parameters task, model, metadata and the options (${OPTIONS_BY_TASK}) in the query string) for large uploads, stored once as the job's input. Accepted whole or not at all.`,
  })
  @ApiConsumes('application/json', 'application/x-ndjson', 'application/jsonl')
  @ApiBody({ schema: { oneOf: [openApiSchemaOf(jobRequestSchema), ndjsonBodySchema] } })
  @ApiNdjsonQuery()
  @ApiAcceptedResponse({ description: 'the job, with a Location header', schema: jobViewSchema })
  @ApiStatus({ status: 400, description: 'a refused input, naming its line or index', schema: apiErrorSchema })
  @ApiStatus({ status: 404, description: 'INPUT_NOT_FOUND: input_file_id or input_object names nothing', schema: apiErrorSchema })
  @ApiStatus({ status: 413, description: 'BODY_TOO_LARGE, LINE_TOO_LONG or TOO_MANY_INPUTS (MAX_INPUTS_PER_JOB): the job can never be accepted as sent', schema: apiErrorSchema })
  @ApiStatus({ status: 429, description: 'RATE_LIMITED, TOO_MANY_JOBS or BACKLOG_FULL, with a Retry-After in seconds', schema: apiErrorSchema })
  @Post()
  @HttpCode(202)
  async submit(@Req() req: ApiRequest, @Tenant() tenant: string, @Res({ passthrough: true }) res: ApiResponse): Promise<JobView> {
    const job = await this.submission.submit(req, tenant);
    res.setHeader('Location', `/v1/jobs/${job.id}`);
    return toJobView(job);
  }

  @ApiOperation({ summary: 'List jobs, newest first' })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } })
  @ApiQuery({ name: 'offset', required: false, schema: { type: 'integer', minimum: 0, default: 0 } })
  @ApiOkResponse({ schema: jobListSchema })
  @Get()
  async list(@Tenant() tenant: string, @Query('limit') limitParam: unknown, @Query('offset') offsetParam: unknown): Promise<JobList> {
    const limit = intParam('limit', limitParam, 20, 1, MAX_PAGE_SIZE);
    const offset = intParam('offset', offsetParam, 0, 0, Number.MAX_SAFE_INTEGER);
    const { jobs, total } = await this.jobs.list(limit, offset, tenant);
    return { object: 'list', data: jobs.map((job) => toJobView(job)), total, limit, offset, has_more: offset + jobs.length < total };
  }

  @ApiOperation({ summary: 'A job: state, counts, shards, tokens, throughput' })
  @ApiParam({ name: 'id', example: 'job_3mJr7AoUXx2Wqd5wGxgYbQ' })
  @ApiOkResponse({ schema: jobViewSchema })
  @ApiStatus({ status: 404, description: 'JOB_NOT_FOUND', schema: apiErrorSchema })
  @Get(':id')
  async get(@Tenant() tenant: string, @Param('id') id: string): Promise<JobView> {
    return toJobView(await this.jobs.get(id, tenant));
  }

  @ApiOperation({ summary: 'Cancel a queued or running job; results already written stay readable' })
  @ApiParam({ name: 'id' })
  @ApiOkResponse({ schema: jobViewSchema })
  @ApiStatus({ status: 409, description: 'JOB_FINISHED', schema: apiErrorSchema })
  @Post(':id/cancel')
  @HttpCode(200)
  async cancel(@Tenant() tenant: string, @Param('id') id: string): Promise<JobView> {
    return toJobView(await this.jobs.cancel(id, tenant));
  }

  @ApiOperation({
    summary: 'Delete a job: its record, shard records, input (unless it was a referenced file or object) and results',
    description:
      'A queued or running job is refused with 409 JOB_RUNNING unless cancel=true, which cancels it first. Jobs are also deleted on their own once their retention (expires_after) has passed.',
  })
  @ApiParam({ name: 'id' })
  @ApiQuery({ name: 'cancel', required: false, schema: { type: 'boolean' }, description: 'cancel a queued or running job, then delete it' })
  @ApiOkResponse({ schema: { type: 'object', properties: { id: { type: 'string' }, object: { type: 'string', enum: ['job'] }, deleted: { type: 'boolean', enum: [true] } } } })
  @ApiStatus({ status: 409, description: 'JOB_RUNNING', schema: apiErrorSchema })
  @Delete(':id')
  @HttpCode(200)
  async delete(@Tenant() tenant: string, @Param('id') id: string, @Query('cancel') cancel: unknown): Promise<JobDeleted> {
    if (cancel !== undefined && cancel !== 'true' && cancel !== 'false')
      throw new ApiError('INVALID_QUERY', 'query parameter "cancel" must be true or false', 400, { field: 'cancel' });
    await this.jobs.delete(id, tenant, { cancel: cancel === 'true' });
    return { id, object: 'job', deleted: true };
  }
}

/** What DELETE /v1/jobs/:id answers. */
export interface JobDeleted {
  id: string;
  object: 'job';
  deleted: true;
}

function intParam(name: string, value: unknown, fallback: number, min: number, max: number): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ApiError('INVALID_QUERY', `query parameter "${name}" must be an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? 'up' : max}`, 400, { field: name });
  }
  return n;
}
