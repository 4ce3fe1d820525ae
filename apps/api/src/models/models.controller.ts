import { Controller, Get } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiTags } from '@nestjs/swagger';
import { ModelsService, type ModelView } from './models.service.js';
import { modelListSchema } from './model-view.schema.js';

@ApiTags('models')
@Controller('v1/models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @ApiOperation({ summary: 'Models with task, family, dimensions or labels, max tokens' })
  @ApiOkResponse({ schema: modelListSchema })
  @Get()
  async list(): Promise<{ object: 'list'; data: ModelView[] }> {
    return { object: 'list', data: await this.models.list() };
  }
}
