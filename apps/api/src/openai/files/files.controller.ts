import { Controller, Delete, Get, HttpCode, Param, Post, Query, Req, Res, UseFilters } from '@nestjs/common';
import { ApiBody, ApiConsumes, ApiOkResponse, ApiOperation, ApiParam, ApiProduces, ApiQuery, ApiTags } from '@nestjs/swagger';
import { Tenant } from '../../auth/tenant.decorator.js';
import type { ApiRequest, ApiResponse } from '../../http/request.types.js';
import { intQuery, stringQuery } from '../http-params.js';
import { OpenAIError } from '../openai-error.js';
import { OpenAIExceptionFilter } from '../openai-exception.filter.js';
import { FilesService, toFileObject, type FileObject } from './files.service.js';
import { fileObjectSchema } from './file-object.schema.js';
import { openAIListSchema } from '../openai-error.schema.js';

@ApiTags('OpenAI: files')
@Controller('v1/files')
@UseFilters(OpenAIExceptionFilter)
export class FilesController {
  constructor(private readonly files: FilesService) {}

  @Post()
  @HttpCode(200)
  @ApiOperation({
    summary: 'Upload a file (JSONL), streamed into the object store',
    description:
      'multipart/form-data with `file` and `purpose`: "batch" (a batch input) or "user_data" (a corpus for POST /v1/jobs `input_file_id`), and optionally `expires_after[anchor]` ("created_at") and `expires_after[seconds]`. Lines are validated when a batch or job is created from the file, which then reads these bytes without copying them.',
  })
  @ApiConsumes('multipart/form-data')
  @ApiBody({
    schema: {
      type: 'object',
      required: ['file', 'purpose'],
      properties: {
        file: { type: 'string', format: 'binary' },
        purpose: { type: 'string', enum: ['batch', 'user_data'] },
        'expires_after[anchor]': { type: 'string', enum: ['created_at'] },
        'expires_after[seconds]': { type: 'integer', minimum: 1 },
      },
    },
  })
  @ApiOkResponse({ schema: fileObjectSchema })
  async upload(@Req() req: ApiRequest, @Tenant() tenant: string): Promise<FileObject> {
    return toFileObject(await this.files.upload(req, tenant));
  }

  @Get()
  @ApiOperation({ summary: 'List files, newest first' })
  @ApiQuery({ name: 'purpose', required: false, schema: { type: 'string', enum: ['batch', 'batch_output', 'user_data'] } })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 100 } })
  @ApiQuery({ name: 'after', required: false, description: 'a file id: the page starts after it' })
  @ApiQuery({ name: 'order', required: false, schema: { type: 'string', enum: ['asc', 'desc'], default: 'desc' } })
  @ApiOkResponse({ schema: openAIListSchema(fileObjectSchema) })
  async list(
    @Tenant() tenant: string,
    @Query('purpose') purpose: unknown,
    @Query('limit') limit: unknown,
    @Query('after') after: unknown,
    @Query('order') order: unknown,
  ): Promise<{ object: 'list'; data: FileObject[]; first_id: string | null; last_id: string | null; has_more: boolean }> {
    const sort = stringQuery('order', order) ?? 'desc';
    if (sort !== 'asc' && sort !== 'desc') throw new OpenAIError(400, 'query parameter "order" must be "asc" or "desc"', 'order', 'invalid_query');
    const page = { limit: intQuery('limit', limit, 100, 1, 1000), after: stringQuery('after', after), order: sort } as const;
    const { items, hasMore } = await this.files.list(tenant, page, stringQuery('purpose', purpose));
    const data = items.map(toFileObject);
    return { object: 'list', data, first_id: data[0]?.id ?? null, last_id: data.at(-1)?.id ?? null, has_more: hasMore };
  }

  @Get(':id')
  @ApiOperation({ summary: 'Retrieve a file object' })
  @ApiParam({ name: 'id', example: 'file-abc123' })
  @ApiOkResponse({ schema: fileObjectSchema })
  async get(@Tenant() tenant: string, @Param('id') id: string): Promise<FileObject> {
    return toFileObject(await this.files.get(id, tenant));
  }

  @Get(':id/content')
  @ApiOperation({ summary: "A file's content (a batch's output and error files are JSONL in OpenAI's line format)" })
  @ApiParam({ name: 'id' })
  @ApiProduces('application/octet-stream')
  @ApiOkResponse({ description: 'the bytes of the file', schema: { type: 'string', format: 'binary' } })
  async content(@Tenant() tenant: string, @Param('id') id: string, @Res() res: ApiResponse): Promise<void> {
    await this.files.sendContent(id, tenant, res);
  }

  @Delete(':id')
  @ApiOperation({ summary: 'Delete a file: gone for its tenant at once; its bytes once no unfinished batch or job reads them' })
  @ApiParam({ name: 'id' })
  @ApiOkResponse({ schema: { type: 'object', properties: { id: { type: 'string' }, object: { type: 'string', enum: ['file'] }, deleted: { type: 'boolean' } } } })
  async delete(@Tenant() tenant: string, @Param('id') id: string): Promise<{ id: string; object: 'file'; deleted: true }> {
    await this.files.delete(id, tenant);
    return { id, object: 'file', deleted: true };
  }
}
