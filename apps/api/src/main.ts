import 'reflect-metadata';
import { Logger, type LogLevel } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { apiEnvSchema, ConfigError, exitWhenShutdownHangs, loadEnv } from '#shared';
import { AppModule } from './app.module.js';
import type { ApiEnv } from './config/api-env.js';
import { ApiExceptionFilter } from './http/api-exception.filter.js';
import { ErrorResponder } from './http/error-responder.js';
import { setupApiDocs } from './docs/openapi.js';
import { MetricsService } from './metrics/metrics.service.js';
import { httpMetricsMiddleware } from './metrics/http-metrics.middleware.js';

const LEVELS: LogLevel[] = ['fatal', 'error', 'warn', 'log', 'debug', 'verbose'];
const QUIET_BOOT: LogLevel[] = ['fatal', 'error', 'warn'];

function logLevels(level: ApiEnv['LOG_LEVEL']): LogLevel[] {
  return LEVELS.slice(0, LEVELS.indexOf(level) + 1);
}

async function bootstrap(): Promise<void> {
  let env: ApiEnv;
  try {
    env = loadEnv(apiEnvSchema);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(1);
  }

  // No global body parser: NDJSON uploads must reach the job service as an unread stream.
  // abortOnError off: a failed boot (Redis down, eviction policy) exits 1 with its message, not a core dump.
  // Nest's per-module and per-route boot lines are held back (warnings and errors still show):
  // the boot logs one line, with the URL.
  const app = await NestFactory.create<NestExpressApplication>(AppModule.forRoot(env), {
    bodyParser: false,
    abortOnError: false,
    logger: QUIET_BOOT,
  });
  // useProcessExit: exit 0 after a clean shutdown instead of re-raising the signal.
  app.enableShutdownHooks(['SIGTERM', 'SIGINT'], { useProcessExit: true });
  app.disable('x-powered-by');
  trackRequestsForShutdown(app);
  const responder = app.get(ErrorResponder);
  app.use(httpMetricsMiddleware(app.get(MetricsService)));
  // Tenant and rate limit come from AuthGuard; JSON bodies are parsed behind it (JsonBodyInterceptor),
  // so an unauthenticated body is never parsed.
  app.useGlobalFilters(new ApiExceptionFilter(responder));
  // OpenAPI document at /docs/openapi.json, Swagger UI at /docs (authenticated like /v1).
  setupApiDocs(app);

  await app.init();
  app.useLogger(logLevels(env.LOG_LEVEL));
  const server = await app.listen(env.PORT);
  const { port } = server.address() as AddressInfo;
  Logger.log(`shardwise API listening on http://localhost:${port}`, 'Bootstrap');
}

/**
 * An idle API exits within seconds of SIGTERM even if Redis is down (exitWhenShutdownHangs); requests
 * in flight may finish. server.close() only closes the keep-alive connections idle at the signal, so
 * each connection busy then is closed as soon as its last request is answered.
 */
function trackRequestsForShutdown(app: NestExpressApplication): void {
  const server = app.getHttpServer() as Server;
  let inFlight = 0;
  let stopping = false;
  app.use((_req: unknown, res: ServerResponse, next: () => void) => {
    inFlight++;
    res.once('close', () => {
      inFlight--;
      if (stopping) setImmediate(() => server.closeIdleConnections());
    });
    next();
  });
  exitWhenShutdownHangs({ busy: () => inFlight > 0, log: (line) => Logger.warn(line, 'Shutdown') });
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => (stopping = true));
}

bootstrap().catch((error: unknown) => {
  // Boot failures are configuration or infrastructure problems: one readable line, then exit.
  console.error(`shardwise API failed to start: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
