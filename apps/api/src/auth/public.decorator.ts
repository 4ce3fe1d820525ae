import { SetMetadata } from '@nestjs/common';

export const IS_PUBLIC = 'shardwise:public';

/**
 * Serves a route without authentication or rate limit (probes and scraping). Every other route,
 * /v1 included, needs `Authorization: Bearer <key>` while auth is on: AuthGuard is global, so a new
 * route is protected unless it is marked public on purpose.
 */
export const Public = (): MethodDecorator & ClassDecorator => SetMetadata(IS_PUBLIC, true);
