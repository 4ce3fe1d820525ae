import { Controller, Get, Res } from '@nestjs/common';
import type { ApiResponse } from '../http/request.types.js';
import { MetricsService } from './metrics.service.js';

@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @Get()
  async scrape(@Res() res: ApiResponse): Promise<void> {
    const text = await this.metrics.registry.metrics();
    res.statusCode = 200;
    res.setHeader('Content-Type', this.metrics.registry.contentType);
    res.end(text);
  }
}
