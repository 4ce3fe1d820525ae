import { Module } from '@nestjs/common';
import { JobsModule } from '../jobs/jobs.module.js';
import { ModelsModule } from '../models/models.module.js';
import { BatchFinalizerService } from './batches/batch-finalizer.service.js';
import { BatchesController } from './batches/batches.controller.js';
import { BatchesService } from './batches/batches.service.js';
import { FilesController } from './files/files.controller.js';
import { FilesService } from './files/files.service.js';
import { InferenceController } from './inference/inference.controller.js';
import { ShardWaiterService } from './inference/shard-waiter.service.js';
import { SyncJobsService } from './inference/sync-jobs.service.js';
import { SyncInferenceService } from './inference/sync-inference.service.js';
import { OpenAIExceptionFilter } from './openai-exception.filter.js';
import { OpenAIRecordsRepository } from './openai-records.repository.js';

/**
 * OpenAI-compatible Files, Batch and Embeddings APIs over shardwise jobs (docs/openai-compatibility.md).
 * Producer side only, like the rest of the API: jobs are submitted through JobSubmissionService,
 * shards are run by workers, and the only BullMQ object here besides the producer queue is a
 * QueueEvents listener (ShardWaiterService).
 */
@Module({
  imports: [JobsModule, ModelsModule],
  controllers: [FilesController, BatchesController, InferenceController],
  providers: [OpenAIRecordsRepository, FilesService, BatchesService, BatchFinalizerService, SyncInferenceService, ShardWaiterService, SyncJobsService, OpenAIExceptionFilter],
  // POST /v1/rerank waits on its shard the same way.
  exports: [SyncJobsService],
})
export class OpenAIModule {}
