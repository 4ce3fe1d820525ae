import { Body, Controller, HttpCode, Post, UseFilters } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { Tenant } from '../../auth/tenant.decorator.js';
import { OpenAIExceptionFilter } from '../openai-exception.filter.js';
import type { InferenceResponseBody } from './openai-response.js';
import { SyncInferenceService } from './sync-inference.service.js';
import { openApiSchemaOf } from '../../docs/schema-builders.js';
import { classificationsRequestSchema, embeddingsRequestSchema, inferenceRequestOf, type InferenceRequest } from './openai-request.js';
import { BodyPipe } from '../../http/body.pipe.js';
import { classificationsResponseSchema, embeddingsResponseSchema } from './openai-response.schema.js';
import { openAIErrorSchema } from '../openai-error.schema.js';

@ApiTags('OpenAI: embeddings and classifications')
@Controller('v1')
@UseFilters(OpenAIExceptionFilter)
export class InferenceController {
  constructor(private readonly inference: SyncInferenceService) {}

  @Post('embeddings')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Embeddings, synchronously (OpenAI-compatible)',
    description:
      'Runs as a small high-priority job on the workers and waits for it (SYNC_TIMEOUT_MS, then 504). At most 2048 inputs and 4 MiB of text; larger work goes through /v1/batches. `dimensions` keeps the first N values of each embedding, normalised again (Matryoshka), at most the model width.',
  })
  @ApiBody({ schema: openApiSchemaOf(embeddingsRequestSchema) })
  @ApiOkResponse({ schema: embeddingsResponseSchema })
  @ApiResponse({ status: 404, description: 'unknown model (`model_not_found`)', schema: openAIErrorSchema })
  @ApiResponse({ status: 504, description: 'not finished within SYNC_TIMEOUT_MS', schema: openAIErrorSchema })
  async embeddings(@Tenant() tenant: string, @Body(new BodyPipe(inferenceRequestOf('/v1/embeddings'))) request: InferenceRequest): Promise<InferenceResponseBody> {
    return this.inference.run('/v1/embeddings', request, tenant);
  }

  @Post('classifications')
  @HttpCode(200)
  @ApiOperation({
    summary: 'Text classification (sentiment), synchronously; shardwise extension in the OpenAI style',
    description: 'Same rules as /v1/embeddings; each data item has `label`, `score` and `scores`. Also usable as a batch endpoint.',
  })
  @ApiBody({ schema: openApiSchemaOf(classificationsRequestSchema) })
  @ApiOkResponse({ schema: classificationsResponseSchema })
  @ApiResponse({ status: 404, description: 'unknown model (`model_not_found`)', schema: openAIErrorSchema })
  @ApiResponse({ status: 504, description: 'not finished within SYNC_TIMEOUT_MS', schema: openAIErrorSchema })
  async classifications(@Tenant() tenant: string, @Body(new BodyPipe(inferenceRequestOf('/v1/classifications'))) request: InferenceRequest): Promise<InferenceResponseBody> {
    return this.inference.run('/v1/classifications', request, tenant);
  }
}
