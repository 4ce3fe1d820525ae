import { Inject, Injectable, Logger, type OnModuleInit } from '@nestjs/common';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { RedisService } from '../redis/redis.service.js';

export interface CancelWatch {
  readonly signal: AbortSignal;
  /** Stops watching; call when the shard is done, cancelled or not. */
  release(): void;
}

/**
 * Turns cancel messages (`${REDIS_PREFIX}:cancel`, message = job id, published by the API) into
 * AbortSignals for the shards of that job running in this process. One subscription per process.
 * A message missed while Redis was unreachable only means the shard runs to the end; the job's
 * state still says cancelled, and later shards of it are skipped.
 */
@Injectable()
export class CancelSignalsService implements OnModuleInit {
  private readonly logger = new Logger(CancelSignalsService.name);
  private readonly watchers = new Map<string, Set<AbortController>>();
  private readonly channel: string;

  constructor(
    private readonly redis: RedisService,
    @Inject(WORKER_ENV) env: WorkerEnv,
  ) {
    this.channel = `${env.REDIS_PREFIX}:cancel`;
  }

  async onModuleInit(): Promise<void> {
    this.redis.subscriber.on('message', (channel: string, jobId: string) => {
      if (channel === this.channel) this.cancel(jobId);
    });
    // ioredis subscribes again by itself after a reconnect.
    await this.redis.subscriber.subscribe(this.channel);
  }

  /** Register before reading the job's state, so a cancel published in between is not missed. */
  watch(jobId: string): CancelWatch {
    const controller = new AbortController();
    let set = this.watchers.get(jobId);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(jobId, set);
    }
    set.add(controller);
    return {
      signal: controller.signal,
      release: () => {
        const current = this.watchers.get(jobId);
        current?.delete(controller);
        if (current?.size === 0) this.watchers.delete(jobId);
      },
    };
  }

  cancel(jobId: string): void {
    const set = this.watchers.get(jobId);
    if (set === undefined) return;
    this.logger.log(`job ${jobId} cancelled: aborting ${set.size} running shard(s)`);
    for (const controller of set) controller.abort(new Error(`job ${jobId} was cancelled`));
  }
}
