import { Body, Controller, Get, HttpCode, Param, Post, Query, UseFilters } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiParam, ApiQuery, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Tenant } from '../../auth/tenant.decorator.js';
import { intQuery, stringQuery } from '../http-params.js';
import { OpenAIExceptionFilter } from '../openai-exception.filter.js';
import type { BatchObject } from './batch-object.js';
import { BatchesService } from './batches.service.js';
import { openApiSchemaOf } from '../../docs/schema-builders.js';
import { batchObjectSchema } from './batch-object.schema.js';
import { BodyPipe } from '../../http/body.pipe.js';
import { batchRequestSchema, parseCreateBody, type CreateRequest } from './batch-request.js';
import { openAIErrorSchema, openAIListSchema } from '../openai-error.schema.js';

@ApiTags('OpenAI: batches')
@Controller('v1/batches')
@UseFilters(OpenAIExceptionFilter)
export class BatchesController {
  constructor(private readonly batches: BatchesService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Create a batch from an uploaded JSONL file (one shardwise job)',
    description:
      'The file is validated while the request runs; a bad line gives a batch with status `failed` and `errors` naming the line. All requests of a batch must use the same model and options.',
  })
  @ApiBody({ schema: openApiSchemaOf(batchRequestSchema) })
  @ApiOkResponse({ schema: batchObjectSchema })
  @ApiResponse({ status: 404, description: 'no such input file', schema: openAIErrorSchema })
  async create(@Tenant() tenant: string, @Body(new BodyPipe(parseCreateBody)) request: CreateRequest): Promise<BatchObject> {
    return this.batches.create(tenant, request);
  }

  @Get()
  @ApiOperation({ summary: 'List batches, newest first' })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 100, default: 20 } })
  @ApiQuery({ name: 'after', required: false, description: 'a batch id: the page starts after it' })
  @ApiOkResponse({ schema: openAIListSchema(batchObjectSchema) })
  async list(
    @Tenant() tenant: string,
    @Query('limit') limit: unknown,
    @Query('after') after: unknown,
  ): Promise<{ object: 'list'; data: BatchObject[]; first_id: string | null; last_id: string | null; has_more: boolean }> {
    const page = { limit: intQuery('limit', limit, 20, 1, 100), after: stringQuery('after', after) };
    const { data, hasMore } = await this.batches.list(tenant, page);
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore };
  }

  @Get(':id')
  @ApiOperation({ summary: 'Retrieve a batch; its status follows its job (in_progress, finalizing, completed, cancelling, cancelled, expired)' })
  @ApiParam({ name: 'id', example: 'batch_abc123' })
  @ApiOkResponse({ schema: batchObjectSchema })
  async get(@Tenant() tenant: string, @Param('id') id: string): Promise<BatchObject> {
    return this.batches.get(tenant, id);
  }

  @Post(':id/cancel')
  @HttpCode(200)
  @ApiOperation({ summary: 'Cancel a batch: its job stops; requests already done stay in the output file' })
  @ApiParam({ name: 'id' })
  @ApiOkResponse({ schema: batchObjectSchema })
  @ApiResponse({ status: 409, description: 'the batch already ended', schema: openAIErrorSchema })
  async cancel(@Tenant() tenant: string, @Param('id') id: string): Promise<BatchObject> {
    return this.batches.cancel(tenant, id);
  }
}
