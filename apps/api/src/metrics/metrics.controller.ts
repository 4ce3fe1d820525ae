import { Controller, Get, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiTags } from '@nestjs/swagger';
import { Public } from '../auth/public.decorator.js';
import type { ApiResponse } from '../http/request.types.js';
import { MetricsService } from './metrics.service.js';

@ApiTags('health')
@Public()
@Controller('metrics')
export class MetricsController {
  constructor(private readonly metrics: MetricsService) {}

  @ApiOperation({ summary: 'Prometheus metrics' })
  @ApiProduces('text/plain')
  @ApiOkResponse({ description: 'Prometheus text exposition format' })
  @Get()
  async scrape(@Res() res: ApiResponse): Promise<void> {
    const text = await this.metrics.registry.metrics();
    res.statusCode = 200;
    res.setHeader('Content-Type', this.metrics.registry.contentType);
    res.end(text);
  }
}
