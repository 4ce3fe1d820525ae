import { Inject, Injectable, Logger } from '@nestjs/common';
import { InvalidModelError, readHubModelInfo, type ModelInfo } from '#models';
import { API_ENV, type ApiEnv } from '../config/api-env.js';

// A model's configs rarely change; ten minutes bounds how long a changed one goes unnoticed.
const INFO_TTL_MS = 10 * 60_000;
// An unreachable endpoint is asked again after a minute, not at every submit.
const FAILURE_TTL_MS = 60_000;
const MAX_MODELS = 256;
// A submit waits for this at most once per model and TTL; workers do not depend on it.
const FETCH_TIMEOUT_MS = 5_000;

interface Entry {
  expires: number;
  info: Promise<ModelInfo | null>;
}

/**
 * What a Hub model's config files (config.json, tokenizer_config.json, config_sentence_transformers.json
 * on HF_ENDPOINT) say about it, so that jobs for Hub models are checked at submit as folder models are.
 * Kept in memory per model id for a while (bounded, least recently used out first); concurrent submits
 * share one fetch. The API never depends on the Hub being up: when the endpoint fails or refuses (401
 * for a missing or gated repository), the info is null and the workers decide, as before.
 */
@Injectable()
export class HubModelInfoRepository {
  private readonly logger = new Logger(HubModelInfoRepository.name);
  private readonly endpoint: string;
  private readonly entries = new Map<string, Entry>();
  /** Models whose failure was logged; logged again only after a success. */
  private readonly warned = new Set<string>();

  constructor(@Inject(API_ENV) env: ApiEnv) {
    this.endpoint = env.HF_ENDPOINT;
  }

  /** The model's info; null when the endpoint cannot tell. InvalidModelError when its files say it cannot be used. */
  info(modelId: string): Promise<ModelInfo | null> {
    const cached = this.entries.get(modelId);
    this.entries.delete(modelId);
    if (cached && cached.expires > Date.now()) {
      this.entries.set(modelId, cached);
      return cached.info;
    }
    const entry: Entry = { expires: Date.now() + INFO_TTL_MS, info: this.read(modelId) };
    void entry.info.then(
      (info) => {
        if (info === null) entry.expires = Date.now() + FAILURE_TTL_MS;
      },
      () => undefined,
    );
    this.entries.set(modelId, entry);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= MAX_MODELS) break;
      this.entries.delete(oldest);
    }
    return entry.info;
  }

  private async read(modelId: string): Promise<ModelInfo | null> {
    try {
      const info = await readHubModelInfo(modelId, { endpoint: this.endpoint, timeoutMs: FETCH_TIMEOUT_MS });
      this.warned.delete(modelId);
      return info;
    } catch (error) {
      // The files are there and say the model is unusable: the workers would fail every shard.
      if (error instanceof InvalidModelError) throw error;
      if (!this.warned.has(modelId)) {
        if (this.warned.size >= MAX_MODELS) this.warned.clear();
        this.warned.add(modelId);
        this.logger.warn(`cannot read the configs of Hub model ${JSON.stringify(modelId)} (${(error as Error).message}); its jobs are accepted unchecked and workers check them`);
      }
      return null;
    }
  }
}
