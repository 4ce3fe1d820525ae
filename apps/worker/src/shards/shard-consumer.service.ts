import { Inject, Logger, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import { OnWorkerEvent, Processor, WorkerHost } from '@nestjs/bullmq';
import { DelayedError, WaitingError, type Job, type WorkerOptions } from 'bullmq';
import { NotReplicatedError, QueueName, type ShardOutcome, LogThrottle } from '#shared';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { ModelService } from '../inference/model.service.js';
import { WorkerMetricsService } from '../metrics/worker-metrics.service.js';
import { ShardFailureService } from './shard-failure.service.js';
import { ShardProcessorService } from './shard-processor.service.js';

/** A shard whose worker died twice (its lock expired twice) fails instead of killing a third worker. */
const MAX_STALLED_COUNT = 2;
/** With no shard in flight, how long shutdown waits for BullMQ to let go of Redis (a fetch it cannot finish while Redis is down). */
const IDLE_CLOSE_MS = 1000;
/** A shard counted but not yet confirmed by a replica (REDIS_MIN_REPLICAS_ACK) runs again this much later. */
const NOT_REPLICATED_RETRY_MS = 1000;
/** How long giving the shards back, or recording failed ones, may hold up shutdown. */
const GIVE_BACK_MS = 1500;

/**
 * Options of the BullMQ Worker behind this processor. They come from the validated environment, which
 * a class decorator cannot read (it runs at import), so WorkerModule.forRoot applies them.
 */
export function shardWorkerOptions(env: WorkerEnv): Omit<WorkerOptions, 'connection'> {
  return {
    concurrency: env.WORKER_CONCURRENCY,
    lockDuration: env.SHARD_LOCK_MS,
    stalledInterval: env.SHARD_LOCK_MS,
    maxStalledCount: MAX_STALLED_COUNT,
    // Consuming starts in onApplicationBootstrap, once the pool and the preloaded models are ready.
    autorun: false,
  };
}

/**
 * The consumer of the `shards` queue. On shutdown it stops fetching and waits for the shards in
 * flight (and their failure handling) before the pool and Redis close; shards still running after
 * SHUTDOWN_GRACE_MS go back to the queue for another worker.
 */
@Processor(QueueName.Shards, { autorun: false })
export class ShardConsumerService extends WorkerHost implements OnApplicationBootstrap, OnModuleDestroy {
  private readonly logger = new Logger(ShardConsumerService.name);
  private readonly errorLog = new LogThrottle();
  private readonly failureHandlers = new Set<Promise<void>>();
  /** Aborted when the grace period is over: the shards still running are given back. */
  private readonly givingBack = new AbortController();
  /** The shards being processed, with their lock tokens (to give them back). */
  private readonly active = new Map<Job, string>();
  private started = false;
  private closing = false;
  private stopped = false;

  constructor(
    @Inject(WORKER_ENV) private readonly env: WorkerEnv,
    private readonly models: ModelService,
    private readonly processor: ShardProcessorService,
    private readonly failures: ShardFailureService,
    private readonly metrics: WorkerMetricsService,
  ) {
    super();
  }

  async onApplicationBootstrap(): Promise<void> {
    // ModelService bootstraps first because this service depends on it (through the processor); check it anyway.
    if (!this.models.isReady()) throw new Error('shard consumer started before the inference pool was ready');
    await this.worker.waitUntilReady();
    this.started = true;
    this.worker.run().then(
      () => (this.stopped = true),
      (error: Error) => {
        this.stopped = true;
        this.logger.error(`BullMQ worker stopped: ${error.message}`);
      },
    );
  }

  async process(job: Job<unknown, ShardOutcome | null>, token?: string): Promise<ShardOutcome | null> {
    if (token !== undefined) this.active.set(job, token);
    try {
      return await this.processor.process(job, this.givingBack.signal);
    } catch (error) {
      // Moved back to the queue by onModuleDestroy; WaitingError tells BullMQ not to fail it.
      if (this.givingBack.signal.aborted) throw new WaitingError();
      // No replica holds the count yet (a failover, a replica down): try again later without spending an
      // attempt, so a long failover does not fail shards whose work is done (the retry counts the stored copy).
      if (error instanceof NotReplicatedError && token !== undefined) {
        this.logger.warn(`shard job ${job.id}: ${error.message}; counted again in ${NOT_REPLICATED_RETRY_MS} ms`);
        await job.moveToDelayed(Date.now() + NOT_REPLICATED_RETRY_MS, token);
        throw new DelayedError();
      }
      throw error;
    } finally {
      this.active.delete(job);
    }
  }

  @OnWorkerEvent('failed')
  onFailed(job: Job | undefined, error: Error): void {
    if (job !== undefined) this.track(this.failures.onFailedAttempt(job, error));
  }

  // An 'error' without a listener would crash the process; BullMQ reconnects by itself.
  @OnWorkerEvent('error')
  onError(error: Error): void {
    this.metrics.error('consumer');
    // Throttled: BullMQ reports every reconnect attempt while Redis is away.
    this.errorLog.log(`BullMQ worker: ${error.message}`, (line) => this.logger.error(line));
  }

  @OnWorkerEvent('stalled')
  onStalled(jobId: string): void {
    this.metrics.error('shard_stalled');
    this.logger.warn(`shard job ${jobId} stalled (its worker stopped renewing the lock); queued again`);
  }

  /** For /healthz: false once the consumer has stopped for good. */
  isAlive(): boolean {
    return !this.stopped;
  }

  /** For /readyz: taking shards now. */
  isConsuming(): boolean {
    return this.started && this.worker.isRunning() && !this.closing && !this.stopped;
  }

  /** Shards being processed now (main.ts sizes its exit deadline by it). */
  shardsInFlight(): number {
    return this.active.size;
  }

  async onModuleDestroy(): Promise<void> {
    this.closing = true;
    this.logger.log('stopping: taking no new shards, waiting for the shards in flight');
    const closed = this.worker.close().then(
      () => true,
      () => true,
    );
    const drained = await Promise.race([closed, this.idleFor(IDLE_CLOSE_MS), delay(this.env.SHUTDOWN_GRACE_MS, false)]);
    if (!drained) await this.giveBack();
    await Promise.race([Promise.allSettled([...this.failureHandlers]), delay(GIVE_BACK_MS, false)]);
    this.stopped = true;
  }

  /**
   * Puts the shards still running back in the queue, for another worker, without spending an attempt,
   * and stops them before they count anything. A shard that cannot be moved (Redis down) comes back
   * when its lock expires, as after a kill -9.
   */
  private async giveBack(): Promise<void> {
    const held = [...this.active];
    this.logger.warn(`stopping: ${held.length} shard(s) still running after SHUTDOWN_GRACE_MS (${this.env.SHUTDOWN_GRACE_MS} ms); giving them back to the queue`);
    this.givingBack.abort(new Error('shutdown grace period over'));
    const moves = held.map(([job, token]) =>
      job.moveToWait(token).then(
        () => this.logger.warn(`shard job ${job.id} given back to the queue`),
        (error: Error) => this.logger.warn(`could not give back shard job ${job.id} (${error.message}); it is retried when its lock expires`),
      ),
    );
    await Promise.race([Promise.all(moves), delay(GIVE_BACK_MS, undefined)]);
  }

  /**
   * Resolves true once no shard has been in flight for `ms`. While Redis is down BullMQ's close waits
   * for a fetch that cannot return; with nothing to finish, shutdown need not wait for it.
   */
  private async idleFor(ms: number): Promise<true> {
    for (;;) {
      while (this.active.size > 0) await delay(50, undefined);
      await delay(ms, undefined);
      if (this.active.size === 0) return true;
    }
  }

  private track(handling: Promise<void>): void {
    const tracked = handling.catch((error: Error) => this.logger.error(`could not record a failed shard: ${error.message}`));
    this.failureHandlers.add(tracked);
    void tracked.finally(() => this.failureHandlers.delete(tracked));
  }
}

function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}
