import { ConfigError } from '#shared';
import { defaultModelsFrom, readModelInfo, resolveModelId, resolveTask, TASK_NAMES, type ResolveModelOptions, type TaskName } from '#models';
import type { WorkerEnv } from './worker-env.js';

export interface PreloadModel {
  task: TaskName;
  modelId: string;
}

/**
 * Parses PRELOAD_MODELS: comma-separated `[task:]name` entries. Names resolve exactly as the API
 * resolves a job's model, so a preloaded model is the same cache entry a shard later asks for.
 * The task may be left out when it can be told: from the local model's config (MODEL_DIR) or
 * because the name is a task's default model.
 */
export async function parsePreloadModels(env: WorkerEnv): Promise<PreloadModel[]> {
  const entries = (env.PRELOAD_MODELS ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
  const opts: ResolveModelOptions = {
    modelDir: env.MODEL_DIR,
    defaults: defaultModelsFrom(env),
  };
  const problems: string[] = [];
  const models: PreloadModel[] = [];
  for (const entry of entries) {
    try {
      const model = await parseEntry(entry, opts);
      if (!models.some((m) => m.task === model.task && m.modelId === model.modelId)) models.push(model);
    } catch (error) {
      problems.push(`PRELOAD_MODELS entry ${JSON.stringify(entry)}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return models;
}

async function parseEntry(entry: string, opts: ResolveModelOptions): Promise<PreloadModel> {
  // Model ids never contain ':', so the first one separates an explicit task.
  const colon = entry.indexOf(':');
  if (colon >= 0) {
    const task = resolveTask(entry.slice(0, colon));
    return { task, modelId: resolveModelId(entry.slice(colon + 1), task, opts) };
  }
  const modelId = resolveModelId(entry, 'embed', opts);
  const task = await taskOf(modelId, opts);
  if (task === undefined) throw new Error(`cannot tell which task it serves; write it as ${TASK_NAMES.map((task) => `${task}:${entry}`).join(' or ')}`);
  return { task, modelId };
}

async function taskOf(modelId: string, opts: ResolveModelOptions): Promise<TaskName | undefined> {
  if (opts.modelDir !== undefined) return (await readModelInfo(modelId, { modelDir: opts.modelDir })).tasks[0];
  return TASK_NAMES.find((task) => {
    try {
      return resolveModelId(undefined, task, opts) === modelId;
    } catch {
      return false;
    }
  });
}
