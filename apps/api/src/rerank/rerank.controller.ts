import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiBody, ApiOkResponse, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { rerankTask } from '#models';
import { Tenant } from '../auth/tenant.decorator.js';
import { openApiSchemaOf } from '../docs/schema-builders.js';
import { BodyPipe } from '../http/body.pipe.js';
import { parseRerankRequest, rerankRequestSchema, type RerankRequest } from './rerank-request.js';
import { RerankService, type RerankResponse } from './rerank.service.js';

@ApiTags('Rerank')
@Controller('v1')
export class RerankController {
  constructor(private readonly reranker: RerankService) {}

  @Post('rerank')
  @HttpCode(200)
  @ApiOperation({
    summary: "Rerank texts against a query, synchronously (Hugging Face TEI's /rerank)",
    description:
      'Scores every (query, text) pair with a cross-encoder, as a small high-priority job on the workers, and answers with the texts sorted by score, highest first: sigmoid of the logit, or the logit with raw_scores. Waits at most SYNC_TIMEOUT_MS (then 504). For many queries, submit a job with task "rerank".',
  })
  @ApiBody({ schema: openApiSchemaOf(rerankRequestSchema) })
  @ApiOkResponse({ schema: rerankTask.resultFields.ranking })
  @ApiResponse({ status: 400, description: 'a bad field (named in `error.field`), an unknown model or one that is no cross-encoder' })
  @ApiResponse({ status: 504, description: 'not finished within SYNC_TIMEOUT_MS' })
  async rerank(@Tenant() tenant: string, @Body(new BodyPipe(parseRerankRequest)) request: RerankRequest): Promise<RerankResponse> {
    return this.reranker.rerank(request, tenant);
  }
}
