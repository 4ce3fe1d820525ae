import { UnknownTaskError } from '../errors.js';
import { classifyTask } from './classify.task.js';
import { embedTask } from './embed.task.js';
import { rerankTask } from './rerank.task.js';
import type { TaskModule } from './task-module.js';
import { listOptions, type ListedOption, type ModuleOptions, type ResolvedModuleOptions } from './task-options.js';
import { tokenClassificationTask } from './token-classification.task.js';

/** Every task, one line each; the order is the order of the API reference, the CLI help and error messages. */
export const TASK_MODULES = Object.freeze([embedTask, classifyTask, tokenClassificationTask, rerankTask] as const);

/** The canonical task names. */
export type TaskName = (typeof TASK_MODULES)[number]['name'];

/**
 * Per-request knobs: every task's options (each module's option table documents its own), plus
 * `truncate`. Unknown to a task means ignored (pooling does nothing for sentiment).
 */
export type EncodeOptions = ModuleOptions<typeof TASK_MODULES>;

/** EncodeOptions with every default applied; what the threads and the task modules see. */
export type ResolvedEncodeOptions = ResolvedModuleOptions<typeof TASK_MODULES>;

/** Every option by API name with the task it belongs to: each task's in registry order, then `truncate` (every task's). */
export const TASK_OPTIONS: readonly ListedOption[] = listOptions(TASK_MODULES);

export const TASK_NAMES: readonly TaskName[] = Object.freeze(TASK_MODULES.map((task) => task.name));

/** Each task by canonical name. */
export const TASKS: Readonly<Record<TaskName, TaskModule<TaskName>>> = byName(TASK_MODULES);

const LOOKUP: ReadonlyMap<string, TaskName> = new Map(TASK_MODULES.flatMap((task) => [task.name, ...task.aliases].map((name) => [name, task.name] as const)));

/** Every accepted spelling, each task's name before its aliases. */
export const TASK_NAMES_AND_ALIASES: readonly string[] = Object.freeze([...LOOKUP.keys()]);

/**
 * Maps a task name or alias to its canonical name. Matching is exact (after
 * trimming): task names are part of the API and case-folding would make
 * typos silently succeed in one place and fail in another.
 */
export function resolveTask(name: string): TaskName {
  const task = LOOKUP.get(typeof name === 'string' ? name.trim() : '');
  if (task === undefined) throw new UnknownTaskError(String(name), TASK_NAMES_AND_ALIASES);
  return task;
}

export function isTaskName(value: string): value is TaskName {
  return (TASK_NAMES as string[]).includes(value);
}

/** The default models the environment overrides (TaskModule.defaultModelVariable), by task; unset ones are left out. */
export function defaultModelsFrom(env: object): Partial<Record<TaskName, string>> {
  const variables = env as Readonly<Record<string, unknown>>;
  const defaults: Partial<Record<TaskName, string>> = {};
  for (const task of TASK_MODULES) {
    const value = variables[task.defaultModelVariable];
    if (typeof value === 'string' && value !== '') defaults[task.name] = value;
  }
  return defaults;
}

/** What each task needs a model to be, for UnsupportedTaskError. */
export const MODEL_HINTS: readonly string[] = Object.freeze(TASK_MODULES.map((task) => task.modelHint));

/** The module of a canonical task name. */
export function taskModule(name: TaskName): TaskModule<TaskName> {
  const task = TASKS[name];
  if (task === undefined) throw new UnknownTaskError(String(name), TASK_NAMES_AND_ALIASES);
  return task;
}

function byName(modules: readonly TaskModule<TaskName>[]): Readonly<Record<TaskName, TaskModule<TaskName>>> {
  const tasks = {} as Record<TaskName, TaskModule<TaskName>>;
  for (const task of modules) tasks[task.name] = task;
  return Object.freeze(tasks);
}
