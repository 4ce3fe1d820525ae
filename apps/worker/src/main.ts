import 'reflect-metadata';
import { Logger, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { ConfigError, exitWhenShutdownHangs, loadEnv, workerEnvSchema, type WorkerEnv } from '#shared';
import { HealthServerService } from './health/health-server.service.js';
import { ModelService } from './inference/model.service.js';
import { ShardConsumerService } from './shards/shard-consumer.service.js';
import { WebhookConsumerService } from './webhooks/webhook-consumer.service.js';
import { WorkerModule } from './worker.module.js';

const LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];

function logLevels(level: WorkerEnv['LOG_LEVEL']): LogLevel[] {
  return LEVELS.slice(0, LEVELS.indexOf(level) + 1);
}

async function bootstrap(): Promise<void> {
  let env: WorkerEnv;
  try {
    env = loadEnv(workerEnvSchema);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`shardwise worker: ${error.message}`);
    process.exit(1);
  }

  const logger = new Logger('Worker');
  try {
    // abortOnError off: a failed boot should exit 1 with its message, not abort with a core dump.
    const app = await NestFactory.createApplicationContext(WorkerModule.forRoot(env), { logger: logLevels(env.LOG_LEVEL), abortOnError: false });
    // useProcessExit: exit 0 after a clean drain instead of re-raising the signal.
    app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
    const shards = app.get(ShardConsumerService);
    const webhooks = app.get(WebhookConsumerService);
    // Shards in flight get SHUTDOWN_GRACE_MS, then are given back (ShardConsumerService); the margin covers that.
    exitWhenShutdownHangs({
      latestMs: env.SHUTDOWN_GRACE_MS + 5000,
      busy: () => shards.shardsInFlight() > 0 || webhooks.deliveriesInFlight() > 0,
      log: (line) => logger.warn(line),
    });
    const models = app
      .get(ModelService)
      .preloadedModels()
      .map((m) => `${m.task}:${m.modelId}`);
    logger.log(
      `ready: consuming "shards" with concurrency ${env.WORKER_CONCURRENCY}; ${env.INFERENCE_THREADS} inference thread(s) x ` +
        `${env.INTRA_OP_THREADS} intra-op, device ${env.DEVICE}, dtype ${env.DTYPE}; ` +
        `models: ${models.length > 0 ? models.join(', ') : 'none preloaded (loaded on first use)'}; health on :${app.get(HealthServerService).port()}`,
    );
  } catch (error) {
    const message = error instanceof ConfigError || error instanceof Error ? error.message : String(error);
    logger.error(`startup failed: ${message}`);
    process.exit(1);
  }
}

void bootstrap();
