import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Logger, Optional } from '@nestjs/common';
import { UnrecoverableError } from 'bullmq';
import { collectRankings, rerankPairs, resolveEncodeOptions, taskModule, type EncodeResponse, type ModelInfo, type TaskName } from '#models';
import {
  buildShardOutput,
  decodeShardResult,
  JobStore,
  OBJECT_STORE,
  readShardItems,
  ResultStore,
  type ShardOutput,
  type InputItem,
  type ObjectStore,
  type ShardOutcome,
  type ShardPayload,
  ReplicaAck,
  shardUsageOf,
  type ShardUsage,
} from '#shared';
import { ModelService } from '../inference/model.service.js';
import { WorkerMetricsService, type ShardMetricOutcome } from '../metrics/worker-metrics.service.js';
import { CancelSignalsService } from './cancel-signals.service.js';
import { ShardDedup } from './shard-dedup.js';
import { classifyInputError, parseShardPayload, type QueuedShard } from './shard-job.js';
import { JobNotifierService } from '../webhooks/job-notifier.service.js';

/** Engine errors that no retry can fix (the model or options are wrong, not the moment). */
const PERMANENT_ERRORS = new Set(['UnknownModelError', 'InvalidModelError', 'UnknownTaskError', 'UnsupportedTaskError', 'UnsupportedDtypeError', 'InvalidEncodeOptionsError']);

/**
 * Runs one shard: skip it when its job is gone or cancelled, count it from the stored copy when a
 * previous run already wrote it, otherwise read its items from the object store, run inference,
 * write its result object and count it. Per-item errors are results; anything thrown makes BullMQ
 * retry the shard (see ShardFailureService for the last attempt).
 */
@Injectable()
export class ShardProcessorService {
  private readonly logger = new Logger(ShardProcessorService.name);

  constructor(
    private readonly jobs: JobStore,
    private readonly results: ResultStore,
    @Inject(OBJECT_STORE) private readonly objects: ObjectStore,
    private readonly models: ModelService,
    private readonly cancels: CancelSignalsService,
    private readonly metrics: WorkerMetricsService,
    // Progress events and webhooks; optional so hand-wired test harnesses can leave it out.
    @Optional() private readonly notifier?: JobNotifierService,
    // REDIS_MIN_REPLICAS_ACK; optional like the notifier (none = no wait).
    @Optional() private readonly replicas?: ReplicaAck,
  ) {}

  /**
   * Returns what was counted for the shard, or null when nothing was (job gone, cancelled, already counted).
   * `stop` aborts the shard for its worker's shutdown: it then throws, before anything is counted.
   */
  async process(queued: QueuedShard, stop?: AbortSignal): Promise<ShardOutcome | null> {
    const payload = parseShardPayload(queued.data);
    const { jobId, shard, task, modelId } = payload;
    const skip = (outcome: ShardMetricOutcome, why: string): null => {
      this.metrics.shard(task, modelId, outcome);
      this.logger.debug(`shard ${shard} of job ${jobId}: ${why}`);
      return null;
    };
    // Busy time for the busy ratio and the throughput reported for autoscaling (ended in the finally below).
    this.metrics.shardStarted();
    // Time in the queue, from enqueue to the first pick-up (retries would add their backoff).
    if (queued.attemptsMade === 0 && queued.timestamp !== undefined) this.metrics.stage('queue', (Date.now() - queued.timestamp) / 1000);
    // Watch before reading the state: a cancel published in between still aborts this shard.
    const watch = this.cancels.watch(jobId);
    // The input range is read while Redis is asked about the job and the model loads: the store's
    // latency hides behind them, and behind the other shard's inference (WORKER_CONCURRENCY).
    const reading = this.readItems(payload);
    reading.catch(() => undefined);
    try {
      const state = await this.jobs.getState(jobId);
      if (state === null) return skip('dropped', 'job no longer exists');
      if (state === 'cancelled') return skip('cancelled', 'job is cancelled');
      // Only the job's first shard moves it to running; the others find it there.
      if (state === 'queued') {
        const after = await this.jobs.markRunning(jobId);
        if (after === null) return skip('dropped', 'job no longer exists');
        if (after === 'cancelled') return skip('cancelled', 'job is cancelled');
      }

      // A previous run wrote this shard and died before counting it: count that copy, never recompute.
      const stored = await this.results.readShard(jobId, shard);
      if (stored !== null) {
        await this.count(payload, stored.header.summary, shardUsageOf(stored));
        this.metrics.shard(task, modelId, 'recovered');
        return stored.header.summary;
      }
      if (await this.jobs.isShardDone(jobId, shard)) return skip('already-done', 'already counted');

      const started = performance.now();
      const info = await this.load(modelId, task);
      const items = await reading;
      const dedup = await ShardDedup.plan(payload, items, this.objects, this.results, (error) =>
        this.logger.warn(`shard ${shard} of job ${jobId}: repeats of earlier shards are computed again: ${error.message}`),
      );
      if (watch.signal.aborted) return skip('cancelled', 'job was cancelled');
      stop?.throwIfAborted();
      let response: EncodeResponse;
      try {
        const signal = stop === undefined ? watch.signal : AbortSignal.any([watch.signal, stop]);
        const inputs = dedup.inputs;
        if (inputs.length === 0) {
          // Every text a copy: nothing for the model.
          response = { results: [], stats: { tokens: 0, paddedTokens: 0, batches: 0, tokenizeSeconds: 0, inferenceSeconds: 0 } };
        } else if (taskModule(task).input === 'query-documents') {
          // Rerank: every (query, document) pair is one model input; each item's pairs are ranked together.
          const pairs = await this.models.encode({ modelId, task, ...rerankPairs(inputs), options: payload.options, signal });
          response = { ...pairs, results: collectRankings(inputs, pairs.results, payload.options.returnText ?? false) };
        } else {
          const texts = inputs.map((item) => item.text);
          const textPairs = inputs.some((item) => item.textPair !== undefined) ? inputs.map((item) => item.textPair ?? null) : undefined;
          response = await this.models.encode({ modelId, task, texts, ...(textPairs ? { textPairs } : {}), options: payload.options, signal });
        }
      } catch (error) {
        if (watch.signal.aborted) return skip('cancelled', 'job was cancelled during inference');
        stop?.throwIfAborted();
        throw classifyEngineError(error);
      }
      if (watch.signal.aborted) return skip('cancelled', 'job was cancelled during inference');
      stop?.throwIfAborted();
      this.metrics.encodeStats(task, modelId, response.stats);

      const writing = performance.now();
      const output = buildShardOutput(
        task,
        items.map((item) => item.id),
        payload.start,
        dedup.assemble(response.results),
        taskModule(task).rowWidth(info, resolveEncodeOptions(payload.options)),
        {
          itemTokens: payload.options.itemTokens,
          labels: info.labels ?? [],
          deduplicated: dedup.deduplicated,
        },
      );
      const outcome = await this.writeAndCount(payload, output);
      this.metrics.stage('write', (performance.now() - writing) / 1000);
      if (outcome.written) this.metrics.itemsFailedByCode(output.failedByCode);
      const computedTokens = response.results.reduce((sum, result) => sum + result.tokens, 0);
      this.metrics.inference(task, modelId, dedup.inputs.length, computedTokens, (performance.now() - started) / 1000);
      this.metrics.deduplicated(task, modelId, dedup.deduplicated);
      this.metrics.shard(task, modelId, 'completed');
      return outcome.counted;
    } finally {
      watch.release();
      this.metrics.shardFinished();
    }
  }

  /** The shard's items from the store; an input that changed or does not parse is permanent. */
  private async readItems(payload: ShardPayload): Promise<InputItem[]> {
    const started = performance.now();
    try {
      return await readShardItems(this.objects, payload);
    } catch (error) {
      throw classifyInputError(error);
    } finally {
      this.metrics.stage('read', (performance.now() - started) / 1000);
    }
  }

  private async load(modelId: string, task: TaskName): Promise<ModelInfo> {
    try {
      return await this.models.load(modelId, task);
    } catch (error) {
      throw classifyEngineError(error);
    }
  }

  /** 'exists' means another run finished the shard first: its copy is the one that counts. */
  private async writeAndCount(payload: ShardPayload, output: ShardOutput): Promise<{ written: boolean; counted: ShardOutcome }> {
    const written = (await this.results.writeShard(payload.jobId, payload.shard, output.object)) === 'written';
    const counted = (written ? null : await this.results.readShard(payload.jobId, payload.shard)) ?? decodeShardResult(output.object);
    await this.count(payload, counted.header.summary, shardUsageOf(counted));
    return { written, counted: counted.header.summary };
  }

  private async count(payload: ShardPayload, outcome: ShardOutcome, usage: ShardUsage): Promise<void> {
    // The shard's ingest estimate leaves the queue-wide backlog with it; its usage is billed in the same
    // step, by the run that counts it (see JobStore.completeShard).
    const result = await this.jobs.completeShard(payload.jobId, payload.shard, outcome, Date.now(), payload.estTokens ?? 0, usage);
    if (result === 'counted' || result === 'job-finished') this.metrics.usage(payload.tenant, payload.modelId, usage);
    if (result === 'job-finished') this.logger.log(`job ${payload.jobId} finished (last shard ${payload.shard})`);
    else if (result === 'unknown-job') this.logger.warn(`shard ${payload.shard} of job ${payload.jobId}: job record disappeared before counting`);
    // Before BullMQ marks the shard completed: a count lost at a failover would leave the job unfinished
    // forever. NotReplicatedError sends the shard back (ShardConsumerService); the next run counts the
    // stored copy (completeShard is idempotent).
    await this.replicas?.confirm();
    await this.notifier?.shardCounted(payload.jobId, payload.shard, result);
  }
}

/** Permanent engine errors become UnrecoverableError so the shard fails now instead of after every backoff. */
function classifyEngineError(error: unknown): Error {
  const err = error instanceof Error ? error : new Error(String(error));
  return PERMANENT_ERRORS.has(err.name) ? new UnrecoverableError(err.message) : err;
}
