import { Module } from '@nestjs/common';
import { HubModelInfoRepository } from './hub-model-info.repository.js';
import { ModelCatalogRepository } from './model-catalog.repository.js';
import { ModelsController } from './models.controller.js';
import { ModelsService } from './models.service.js';

@Module({
  controllers: [ModelsController],
  providers: [HubModelInfoRepository, ModelCatalogRepository, ModelsService],
  exports: [ModelCatalogRepository],
})
export class ModelsModule {}
