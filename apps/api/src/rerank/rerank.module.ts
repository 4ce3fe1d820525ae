import { Module } from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module.js';
import { ModelsModule } from '../models/models.module.js';
import { OpenAIModule } from '../openai/openai.module.js';
import { RerankController } from './rerank.controller.js';
import { RerankService } from './rerank.service.js';

/** POST /v1/rerank (TEI's shape): producer side only, waiting on its job's shard like /v1/embeddings. */
@Module({
  imports: [JobsModule, ModelsModule, OpenAIModule],
  controllers: [RerankController],
  providers: [RerankService],
})
export class RerankModule {}
