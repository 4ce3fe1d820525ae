import { Global, Module, type DynamicModule } from '@nestjs/common';
import { WORKER_ENV, type WorkerEnv } from './worker-env.js';

/** Makes the environment validated at boot injectable everywhere as WORKER_ENV (BullModule's factories included). */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(env: WorkerEnv): DynamicModule {
    return { module: ConfigModule, providers: [{ provide: WORKER_ENV, useValue: env }], exports: [WORKER_ENV] };
  }
}
