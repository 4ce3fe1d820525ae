import { Controller, Get } from '@nestjs/common';
import { ModelsService, type ModelView } from './models.service.js';

@Controller('v1/models')
export class ModelsController {
  constructor(private readonly models: ModelsService) {}

  @Get()
  async list(): Promise<{ object: 'list'; data: ModelView[] }> {
    return { object: 'list', data: await this.models.list() };
  }
}
