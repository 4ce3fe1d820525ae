import { Module } from '@nestjs/common';
import { ModelCatalogRepository } from './model-catalog.repository.js';
import { ModelsController } from './models.controller.js';
import { ModelsService } from './models.service.js';

@Module({
  controllers: [ModelsController],
  providers: [ModelCatalogRepository, ModelsService],
  exports: [ModelCatalogRepository],
})
export class ModelsModule {}
