import { All, Controller, NotFoundException, Req } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { ApiRequest } from './request.types.js';

/**
 * Every path no other route serves, so that AuthGuard sees it too: without a key it is a 401 like
 * any route (a client learns nothing of which paths exist); with one, the 404 Nest would answer.
 */
@ApiExcludeController()
@Controller()
export class UnmatchedRouteController {
  @All('{*path}')
  unmatched(@Req() req: ApiRequest): never {
    throw new NotFoundException(`Cannot ${req.method ?? 'GET'} ${req.originalUrl ?? req.url ?? '/'}`);
  }
}
