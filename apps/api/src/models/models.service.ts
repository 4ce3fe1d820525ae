import { Injectable } from '@nestjs/common';
import { TASKS, type ModelInfo, type TaskName } from '#models';
import { ModelCatalogRepository } from './model-catalog.repository.js';

export interface ModelView {
  id: string;
  task: TaskName[];
  family: string | null;
  dimensions: number | null;
  labels: string[] | null;
  max_tokens: number | null;
  default_for: TaskName[];
}

@Injectable()
export class ModelsService {
  constructor(private readonly catalog: ModelCatalogRepository) {}

  async list(): Promise<ModelView[]> {
    const defaults = this.defaultIds();
    const defaultFor = (id: string) => (Object.keys(defaults) as TaskName[]).filter((task) => defaults[task] === id);
    if (this.catalog.modelDir === undefined) {
      // Without MODEL_DIR, the default models from HF_ENDPOINT, described when the endpoint answers.
      const ids = [...new Set(Object.values(defaults))];
      const infos = await Promise.all(ids.map((id) => this.catalog.tryInfo(id)));
      return ids.map((id, i) => {
        const info = infos[i];
        return info ? viewOf(id, info, defaultFor(id)) : { id, task: defaultFor(id), family: null, dimensions: null, labels: null, max_tokens: null, default_for: defaultFor(id) };
      });
    }
    const views: ModelView[] = [];
    for (const id of await this.catalog.listLocalIds()) {
      const info = await this.catalog.tryInfo(id);
      if (info) views.push(viewOf(id, info, defaultFor(id)));
    }
    return views;
  }

  /** The model each task uses when a job names none (null when it cannot be resolved here). */
  private defaultIds(): Partial<Record<TaskName, string>> {
    const ids: Partial<Record<TaskName, string>> = {};
    for (const task of Object.keys(TASKS) as TaskName[]) {
      try {
        ids[task] = this.catalog.resolve(undefined, task);
      } catch {
        // The default is not installed under MODEL_DIR: no model is the default for this task.
      }
    }
    return ids;
  }
}

function viewOf(id: string, info: ModelInfo, defaultFor: TaskName[]): ModelView {
  return { id, task: info.tasks, family: info.family, dimensions: info.dimensions, labels: info.labels, max_tokens: info.maxTokens, default_for: defaultFor };
}
