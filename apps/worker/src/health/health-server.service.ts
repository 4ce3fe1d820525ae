import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Inject, Injectable, Logger, type OnApplicationShutdown, type OnModuleInit } from '@nestjs/common';
import { WORKER_ENV, type WorkerEnv } from '../config/worker-env.js';
import { ModelService } from '../inference/model.service.js';
import { WorkerMetricsService } from '../metrics/worker-metrics.service.js';
import { RedisService } from '../redis/redis.service.js';
import { ShardConsumerService } from '../shards/shard-consumer.service.js';

/**
 * The worker's only HTTP surface, on WORKER_PORT: /healthz (liveness), /readyz (readiness) and
 * /metrics. It listens from module init, before models load, so probes see a live but unready
 * process while a large model loads, and it closes last, so probes keep answering while shards drain.
 */
@Injectable()
export class HealthServerService implements OnModuleInit, OnApplicationShutdown {
  private readonly logger = new Logger(HealthServerService.name);
  private server: Server | undefined;

  constructor(
    @Inject(WORKER_ENV) private readonly env: WorkerEnv,
    private readonly redis: RedisService,
    private readonly models: ModelService,
    private readonly consumer: ShardConsumerService,
    private readonly metrics: WorkerMetricsService,
  ) {}

  async onModuleInit(): Promise<void> {
    const server = createServer((req, res) => {
      this.route(req, res).catch((error: Error) => {
        this.logger.error(`health endpoint ${req.url}: ${error.message}`);
        if (!res.headersSent) send(res, 500, 'internal error\n');
        else res.end();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => reject(new Error(`cannot listen on WORKER_PORT=${this.env.WORKER_PORT}: ${error.code ?? error.message}`)));
      server.listen(this.env.WORKER_PORT, () => resolve());
    });
    this.server = server;
  }

  /** The port actually bound (WORKER_PORT=0 picks a free one). */
  port(): number | undefined {
    return (this.server?.address() as AddressInfo | null)?.port;
  }

  async onApplicationShutdown(): Promise<void> {
    const server = this.server;
    if (server === undefined) return;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
  }

  private async route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'method not allowed\n');
    const path = (req.url ?? '/').split('?')[0];
    switch (path) {
      case '/healthz':
        return this.consumer.isAlive() ? send(res, 200, 'ok\n') : send(res, 503, 'shard consumer stopped\n');
      case '/readyz': {
        const problems = await this.readinessProblems();
        return problems.length === 0 ? send(res, 200, 'ready\n') : send(res, 503, `not ready: ${problems.join('; ')}\n`);
      }
      case '/metrics': {
        const { contentType, body } = await this.metrics.render();
        return send(res, 200, body, contentType);
      }
      default:
        return send(res, 404, 'not found\n');
    }
  }

  private async readinessProblems(): Promise<string[]> {
    const problems: string[] = [];
    if (!this.models.isReady()) problems.push('inference pool or preloaded models not ready');
    else if (!this.consumer.isConsuming()) problems.push('not consuming shards');
    if (!(await this.redis.isReachable())) problems.push('Redis does not answer');
    return problems;
  }
}

function send(res: ServerResponse, status: number, body: string, contentType = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': contentType, 'cache-control': 'no-store' });
  res.end(body);
}
