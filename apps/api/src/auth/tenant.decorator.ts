import { createParamDecorator, type ExecutionContext } from '@nestjs/common';
import type { ApiRequest } from '../http/request.types.js';
import { tenantOf } from './tenant.js';

/** The tenant the request acts for, as AuthGuard resolved it (`default` while auth is off). */
export const Tenant = createParamDecorator((_data: unknown, context: ExecutionContext): string => tenantOf(context.switchToHttp().getRequest<ApiRequest>()));
