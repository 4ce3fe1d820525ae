import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import {
  buildFailedShardOutput,
  JobStore,
  OBJECT_STORE,
  readShardItems,
  ResultStore,
  shardPayloadSchema,
  shardUsageOf,
  type ObjectStore,
  type ShardPayload,
  type ShardResult,
} from '#shared';
import { taskModule } from '#models';
import { WorkerMetricsService } from '../metrics/worker-metrics.service.js';
import { isFinalFailure, salvageShardIdentity, type QueuedShard } from './shard-job.js';
import { JobNotifierService } from '../webhooks/job-notifier.service.js';

/** Failure reasons land in result files and the job record; a stack-sized message helps nobody there. */
const MAX_REASON_LENGTH = 1000;

/**
 * Closes a shard that BullMQ will not run again, so its job can still finish: every item gets a
 * SHARD_FAILED error line, then the shard is counted as failed. Earlier attempts are only logged.
 */
@Injectable()
export class ShardFailureService {
  private readonly logger = new Logger(ShardFailureService.name);

  constructor(
    private readonly jobs: JobStore,
    private readonly results: ResultStore,
    @Inject(OBJECT_STORE) private readonly objects: ObjectStore,
    private readonly metrics: WorkerMetricsService,
    // Progress events and webhooks; optional so hand-wired test harnesses can leave it out.
    @Optional() private readonly notifier?: JobNotifierService,
  ) {}

  /** For BullMQ's 'failed' event, which fires after every failed attempt. */
  async onFailedAttempt(queued: QueuedShard, error: Error): Promise<void> {
    const parsed = shardPayloadSchema.safeParse(queued.data);
    const task = parsed.success ? parsed.data.task : 'unknown';
    const model = parsed.success ? parsed.data.modelId : 'unknown';
    const attempts = queued.opts.attempts ?? 1;
    if (!isFinalFailure(queued, error)) {
      this.metrics.shard(task, model, 'retrying');
      this.logger.warn(`shard job ${queued.id} attempt ${queued.attemptsMade}/${attempts} failed, will retry: ${error.message}`);
      return;
    }
    const reason = error.message.length > MAX_REASON_LENGTH ? `${error.message.slice(0, MAX_REASON_LENGTH)}…` : error.message;
    this.metrics.shard(task, model, 'failed');
    this.logger.error(`shard job ${queued.id} failed for good after ${queued.attemptsMade} attempt(s): ${reason}`);
    if (parsed.success) {
      await this.closeFailedShard(parsed.data, reason);
      return;
    }
    // The payload itself was bad: there are no items to write, but the job must still finish.
    const identity = salvageShardIdentity(queued.data);
    if (identity !== null) {
      const result = await this.jobs.failShard(identity.jobId, identity.shard, identity.itemCount, reason);
      await this.notifier?.shardCounted(identity.jobId, identity.shard, result);
    }
  }

  async closeFailedShard(payload: ShardPayload, reason: string): Promise<void> {
    const { jobId, shard } = payload;
    if ((await this.jobs.getState(jobId)) === null) return; // job deleted: nothing to finish, and no files to leave behind
    let stored: ShardResult | null = null;
    try {
      stored = await this.writeFailureFiles(payload, reason);
    } catch (error) {
      // Still count the shard below: a job whose shard is never counted never finishes.
      this.logger.error(`could not write the failure of shard ${shard} of job ${jobId}: ${(error as Error).message}`);
    }
    const est = payload.estTokens ?? 0; // the shard's backlog estimate leaves with it
    // A stored copy that ran is billed like any counted shard; a failed shard bills nothing.
    const usage = stored === null ? null : shardUsageOf(stored);
    const result =
      stored !== null && usage !== null
        ? await this.jobs.completeShard(jobId, shard, stored.header.summary, Date.now(), est, usage)
        : await this.jobs.failShard(jobId, shard, payload.count, reason, Date.now(), est);
    if (usage !== null && (result === 'counted' || result === 'job-finished')) this.metrics.usage(payload.tenant, payload.modelId, usage);
    await this.notifier?.shardCounted(jobId, shard, result);
  }

  /**
   * Returns a copy that was already stored (a run wrote it but did not get to count it),
   * which then counts instead of the failure; null after writing the failure files.
   */
  private async writeFailureFiles(payload: ShardPayload, reason: string): Promise<ShardResult | null> {
    const { jobId, shard } = payload;
    const existing = await this.results.readShard(jobId, shard);
    if (existing !== null) return existing;
    // The job record knows the embedding width even when the model never loaded here.
    const dimensions = taskModule(payload.task).output === 'vector' ? ((await this.jobs.get(jobId))?.dimensions ?? null) : null;
    const output = buildFailedShardOutput(payload.task, await this.idsOf(payload), payload.start, payload.count, reason, dimensions);
    if ((await this.results.writeShard(jobId, shard, output.object)) === 'exists') return this.results.readShard(jobId, shard);
    this.metrics.itemsFailedByCode(output.failedByCode);
    return null;
  }

  /** The items' ids for their error lines; 'unknown' when the input itself cannot be read (then the lines name items by index only). */
  private async idsOf(payload: ShardPayload): Promise<string[] | 'unknown'> {
    try {
      return (await readShardItems(this.objects, payload)).map((item) => item.id);
    } catch (error) {
      this.logger.warn(`shard ${payload.shard} of job ${payload.jobId}: its input cannot be read (${(error as Error).message}); its error lines carry no ids`);
      return 'unknown';
    }
  }
}
