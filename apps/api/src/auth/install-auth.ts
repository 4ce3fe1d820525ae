import type { NestExpressApplication } from '@nestjs/platform-express';
import type { ApiRequest, ApiResponse } from '../http/request.types.js';
import { AuthMiddleware } from './auth.middleware.js';

/**
 * Puts AuthMiddleware in front of every route and of the JSON body parser, so an unauthenticated or
 * rate-limited request is refused before its body is parsed. Call before installJsonBody.
 */
export function installAuth(app: NestExpressApplication): void {
  const auth = app.get(AuthMiddleware);
  app.use((req: ApiRequest, res: ApiResponse, next: (error?: unknown) => void) => auth.use(req, res, next));
}
