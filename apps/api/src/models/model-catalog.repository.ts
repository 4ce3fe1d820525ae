import { Inject, Injectable, Logger } from '@nestjs/common';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '#shared';
import { defaultModelsFrom, InvalidModelError, readModelInfo, resolveModelId, UnknownModelError, type ModelInfo, type TaskName } from '#models';
import { API_ENV, type ApiEnv } from '../config/api-env.js';
import { HubModelInfoRepository } from './hub-model-info.repository.js';

/** A job's model as the API resolved it: the id workers load, and what its files say (null: a Hub model whose files could not be read). */
export interface ResolvedModel {
  modelId: string;
  info: ModelInfo | null;
}

/**
 * The model folders under MODEL_DIR (filesystem access lives here only). Names come from clients,
 * so they go through the models library, which refuses anything that could leave MODEL_DIR
 * before touching the disk.
 */
@Injectable()
export class ModelCatalogRepository {
  private readonly logger = new Logger(ModelCatalogRepository.name);
  readonly modelDir: string | undefined;
  readonly defaults: Partial<Record<TaskName, string>>;

  constructor(
    @Inject(API_ENV) env: ApiEnv,
    private readonly hub: HubModelInfoRepository,
  ) {
    this.modelDir = env.MODEL_DIR;
    this.defaults = defaultModelsFrom(env);
  }

  /** The id workers load for this request; InputError INVALID_MODEL / UNKNOWN_MODEL otherwise. */
  resolve(name: string | undefined, task: TaskName): string {
    try {
      return resolveModelId(name, task, { modelDir: this.modelDir, defaults: this.defaults });
    } catch (error) {
      throw toInputError(error);
    }
  }

  /**
   * The model a job runs, resolved once per request: its id, and its info (null for a Hub model
   * whose files the API cannot read). Callers that check the model before submitting hand this on, so nothing is resolved twice.
   */
  async resolveModel(name: string | undefined, task: TaskName): Promise<ResolvedModel> {
    const modelId = this.resolve(name, task);
    return { modelId, info: await this.info(modelId) };
  }

  /** What the model's folder says about it, or without MODEL_DIR its files on HF_ENDPOINT (null when they cannot be read). */
  async info(modelId: string): Promise<ModelInfo | null> {
    try {
      if (this.modelDir === undefined) return await this.hub.info(modelId);
      return await readModelInfo(modelId, { modelDir: this.modelDir });
    } catch (error) {
      throw toInputError(error);
    }
  }

  /** Ids of every folder with a config.json, one level (`name`) or two (`org/name`) below MODEL_DIR. */
  async listLocalIds(): Promise<string[]> {
    if (this.modelDir === undefined) return [];
    const ids: string[] = [];
    for (const top of await subfolders(this.modelDir)) {
      if (await hasConfig(join(this.modelDir, top))) {
        ids.push(top);
        continue;
      }
      for (const inner of await subfolders(join(this.modelDir, top))) {
        if (await hasConfig(join(this.modelDir, top, inner))) ids.push(`${top}/${inner}`);
      }
    }
    return ids.sort();
  }

  /** Like info(), but a broken model is logged and skipped (null) instead of failing a listing. */
  async tryInfo(modelId: string): Promise<ModelInfo | null> {
    try {
      return await this.info(modelId);
    } catch (error) {
      this.logger.warn(`skipping model ${JSON.stringify(modelId)}: ${(error as Error).message}`);
      return null;
    }
  }
}

function toInputError(error: unknown): unknown {
  if (error instanceof InvalidModelError) return new InputError('INVALID_MODEL', error.message, { field: 'model' });
  if (error instanceof UnknownModelError) return new InputError('UNKNOWN_MODEL', error.message, { field: 'model' });
  return error;
}

async function subfolders(dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    // Dot-folders are temp or hidden copies; model ids may not start with '.' anyway.
    return entries.filter((e) => (e.isDirectory() || e.isSymbolicLink()) && !e.name.startsWith('.')).map((e) => e.name);
  } catch {
    return [];
  }
}

async function hasConfig(dir: string): Promise<boolean> {
  try {
    const entries = await readdir(dir);
    return entries.includes('config.json');
  } catch {
    return false;
  }
}
