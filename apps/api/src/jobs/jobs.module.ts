import { Module } from '@nestjs/common';
import { ModelsModule } from '../models/models.module.js';
import { CorpusReferenceService } from './corpus-reference.service.js';
import { JobCommitService } from './job-commit.service.js';
import { JobRetentionService } from './job-retention.service.js';
import { JobSubmissionService } from './job-submission.service.js';
import { JobsController } from './jobs.controller.js';
import { JobsService } from './jobs.service.js';
import { ResultsController } from './results.controller.js';
import { ResultsService } from './results.service.js';

@Module({
  imports: [ModelsModule],
  controllers: [JobsController, ResultsController],
  providers: [JobSubmissionService, JobCommitService, CorpusReferenceService, JobsService, JobRetentionService, ResultsService],
  // For the OpenAI-compatible routes, which submit, cancel and read jobs through the same services.
  exports: [JobSubmissionService, JobsService, ResultsService],
})
export class JobsModule {}
