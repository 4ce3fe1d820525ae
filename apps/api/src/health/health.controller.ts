import { Controller, Get, HttpCode, Res } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiResponse as ApiStatus, ApiTags } from '@nestjs/swagger';
import { RedisHealthRepository } from '../redis/redis-health.repository.js';
import { Public } from '../auth/public.decorator.js';
import type { ApiResponse } from '../http/request.types.js';
import { sendJson } from '../http/send-json.js';

@ApiTags('health')
@Public()
@Controller()
export class HealthController {
  constructor(private readonly redis: RedisHealthRepository) {}

  /** Liveness: the process serves HTTP; says nothing about Redis, so a Redis outage does not restart pods. */
  @ApiOperation({ summary: 'Liveness' })
  @ApiOkResponse({ schema: { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } } } })
  @Get('healthz')
  @HttpCode(200)
  healthz(): { status: 'ok' } {
    return { status: 'ok' };
  }

  /** Readiness: 503 while Redis does not answer, so load balancers stop sending jobs here. */
  @ApiOperation({ summary: 'Readiness: Redis reachable' })
  @ApiOkResponse({ description: 'ready' })
  @ApiStatus({ status: 503, description: 'Redis does not answer' })
  @Get('readyz')
  async readyz(@Res() res: ApiResponse): Promise<void> {
    const ok = await this.redis.ping();
    sendJson(res, ok ? 200 : 503, { status: ok ? 'ok' : 'unavailable', redis: ok ? 'ok' : 'down' });
  }
}
