import { Module, type DynamicModule } from '@nestjs/common';
import { AuthModule } from './auth/auth.module.js';
import { ConfigModule } from './config/config.module.js';
import { EventsModule } from './events/events.module.js';
import { NotificationsModule } from './events/notifications.module.js';
import type { ApiEnv } from './config/api-env.js';
import { HealthModule } from './health/health.module.js';
import { HttpModule } from './http/http.module.js';
import { UnmatchedRouteModule } from './http/unmatched-route.module.js';
import { JobsModule } from './jobs/jobs.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { ModelsModule } from './models/models.module.js';
import { OpenAIModule } from './openai/openai.module.js';
import { RedisModule } from './redis/redis.module.js';
import { RerankModule } from './rerank/rerank.module.js';
import { StorageModule } from './storage/storage.module.js';
import { UsageModule } from './usage/usage.module.js';

/** The API: producer side only. No BullMQ Worker or @Processor is part of this graph. */
@Module({})
export class AppModule {
  static forRoot(env: ApiEnv): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(env),
        MetricsModule,
        HttpModule,
        RedisModule,
        StorageModule,
        AuthModule,
        NotificationsModule,
        ModelsModule,
        JobsModule,
        EventsModule,
        HealthModule,
        OpenAIModule,
        RerankModule,
        UsageModule,
        // Last: its catch-all route must come after every other.
        UnmatchedRouteModule,
      ],
    };
  }
}
