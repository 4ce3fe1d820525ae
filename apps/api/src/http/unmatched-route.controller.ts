import { All, Controller, NotFoundException, Req } from '@nestjs/common';
import { ApiExcludeController } from '@nestjs/swagger';
import type { ApiRequest } from './request.types.js';

/**
 * Every path no other route serves, so that AuthGuard sees it too: without a key it is a 401 like
 * any route (a client learns nothing of which paths exist); with one, the 404 Nest would answer.
 */
/** The catch-all's path template; metrics label its requests `unmatched`, as before it existed. */
export const UNMATCHED_ROUTE = '{*path}';

@ApiExcludeController()
@Controller()
export class UnmatchedRouteController {
  @All(UNMATCHED_ROUTE)
  unmatched(@Req() req: ApiRequest): never {
    throw new NotFoundException(`Cannot ${req.method ?? 'GET'} ${req.originalUrl ?? req.url ?? '/'}`);
  }
}
