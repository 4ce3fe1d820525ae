import { performance } from 'node:perf_hooks';
import { Inject, Injectable, Logger, type BeforeApplicationShutdown, type OnApplicationBootstrap } from '@nestjs/common';
import type { EncodeRequest, EncodeResponse, ModelInfo, TaskName } from '#models';
import { parsePreloadModels, type PreloadModel } from '../config/preload-models.js';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { WorkerMetricsService } from '../metrics/worker-metrics.service.js';
import { INFERENCE_POOL, type InferencePort } from './inference.port.js';

/**
 * The worker's view of the inference pool: starts it, preloads PRELOAD_MODELS, has models loaded
 * on first use (the pool shares and retries loads; this service times and reports each one), and
 * closes it after the last shard.
 */
@Injectable()
export class ModelService implements OnApplicationBootstrap, BeforeApplicationShutdown {
  private readonly logger = new Logger(ModelService.name);
  private started = false;
  private ready = false;
  private preloaded: PreloadModel[] = [];

  constructor(
    @Inject(INFERENCE_POOL) private readonly pool: InferencePort,
    @Inject(WORKER_ENV) private readonly env: WorkerEnv,
    private readonly metrics: WorkerMetricsService,
  ) {}

  /** Runs before ShardConsumerService starts consuming (it depends on this service through the processor). */
  async onApplicationBootstrap(): Promise<void> {
    // Parse first: a typo in PRELOAD_MODELS should not wait for threads to start.
    const preloads = await parsePreloadModels(this.env);
    await this.pool.start();
    this.started = true;
    for (const { task, modelId } of preloads) {
      try {
        // InferencePool.load loads the model in every thread and warms it up.
        await this.load(modelId, task);
      } catch (error) {
        throw new Error(`PRELOAD_MODELS: could not load ${task} model "${modelId}": ${(error as Error).message}`, { cause: error });
      }
    }
    this.preloaded = preloads;
    this.ready = true;
  }

  /** True once the pool has started and every preloaded model is loaded and warm. */
  isReady(): boolean {
    return this.ready;
  }

  preloadedModels(): readonly PreloadModel[] {
    return this.preloaded;
  }

  encode(request: EncodeRequest): Promise<EncodeResponse> {
    return this.pool.encode(request);
  }

  async beforeApplicationShutdown(): Promise<void> {
    // Runs after ShardConsumerService.onModuleDestroy: no shard uses the pool any more.
    this.ready = false;
    if (this.started) await this.pool.close();
  }

  /**
   * The model's ModelInfo, loaded by the pool on first use (concurrent shards share that load; a
   * failed one is retried by the next shard). The first caller to see a load finish reports it.
   */
  async load(modelId: string, task: TaskName): Promise<ModelInfo> {
    const started = performance.now();
    const info = await this.pool.load(modelId, task).catch((error: unknown) => {
      this.metrics.error('model_load');
      throw error;
    });
    if (this.metrics.hasLoaded(modelId)) return info;
    const seconds = (performance.now() - started) / 1000;
    this.metrics.modelLoaded(task, modelId, seconds);
    this.logger.log(`loaded ${task} model ${modelId} (${info.dimensions} dims, max ${info.maxTokens} tokens) in ${seconds.toFixed(2)}s`);
    return info;
  }
}
