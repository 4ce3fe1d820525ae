import { Global, Module } from '@nestjs/common';
import { MetricsController } from './metrics.controller.js';
import { MetricsService } from './metrics.service.js';
import { QueueMetricsCollector } from './queue-metrics.collector.js';

@Global()
@Module({ controllers: [MetricsController], providers: [MetricsService, QueueMetricsCollector], exports: [MetricsService] })
export class MetricsModule {}
