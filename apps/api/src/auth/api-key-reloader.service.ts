import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { Inject, Injectable, Logger, type OnApplicationBootstrap, type OnApplicationShutdown } from '@nestjs/common';
import { ConfigError } from '#shared';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { ApiKeyRegistry } from './api-keys.js';
import { API_KEYS } from './auth.tokens.js';

/**
 * Reloads the API keys without a restart: when API_KEYS_FILE changes (checked every
 * API_KEYS_RELOAD_MS by its modification time and size, which also sees a Kubernetes Secret
 * volume's symlink swap) and on SIGHUP. A file that does not validate is refused with every problem
 * logged, and the keys in use stay. Keys are never logged, only counts.
 */
@Injectable()
export class ApiKeyReloader implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Auth');
  private readonly onSignal = (): void => this.reload('SIGHUP');
  private watching: string | undefined;

  constructor(
    @Inject(API_ENV) private readonly env: ApiEnv,
    @Inject(API_KEYS) private readonly keys: ApiKeyRegistry,
  ) {}

  onApplicationBootstrap(): void {
    process.on('SIGHUP', this.onSignal);
    const path = this.env.API_KEYS_FILE;
    if (path === undefined || this.env.API_KEYS_RELOAD_MS === 0) return;
    this.watching = path;
    watchFile(path, { interval: this.env.API_KEYS_RELOAD_MS, persistent: false }, (now: Stats, before: Stats) => {
      if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) this.reload('API_KEYS_FILE changed');
    });
  }

  onApplicationShutdown(): void {
    process.off('SIGHUP', this.onSignal);
    if (this.watching !== undefined) unwatchFile(this.watching);
  }

  reload(why: string): void {
    try {
      const { keys, tenants } = this.keys.reload(this.env);
      this.logger.log(`API keys reloaded (${why}): ${keys} key(s) for ${tenants} tenant(s)`);
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems.join('; ') : (error as Error).message;
      this.logger.error(`API keys NOT reloaded (${why}); the ${this.keys.keyCount} key(s) in use stay: ${problems}`);
    }
  }
}
