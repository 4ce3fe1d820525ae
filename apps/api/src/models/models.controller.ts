import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { Shardwise } from '../docs/schemas.js';
import { ModelsService, type ModelView } from './models.service.js';

@ApiTags('models')
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @ApiOperation({ summary: 'Models with task, family, dimensions or labels, max tokens' })
  @ApiOkResponse({ schema: Shardwise.models })
  @Get()
  async list(): Promise<{ object: 'list'; data: ModelView[] }> {
    return { object: 'list', data: await this.models.list() };
  }
}
