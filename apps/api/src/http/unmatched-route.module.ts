import { Module } from '@nestjs/common';
import { UnmatchedRouteController } from './unmatched-route.controller.js';

/** Import last: Express tries routes in the order they were registered. */
@Module({ controllers: [UnmatchedRouteController] })
export class UnmatchedRouteModule {}
