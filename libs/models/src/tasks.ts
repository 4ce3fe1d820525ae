import { UnknownTaskError } from './errors.js';

/** The two things a shard can ask for. */
export type TaskName = 'embed' | 'sentiment';

/** Static description of a task: its default model, accepted aliases and transformers.js pipeline name. */
export interface TaskSpec {
  /** Hub id used when a request names no model. */
  readonly defaultModel: string;
  /** Other names clients may use for this task (Hub pipeline names included). */
  readonly aliases: readonly string[];
  /** The transformers.js `pipeline()` task this reproduces. */
  readonly pipelineTask: string;
}

export const TASKS: Readonly<Record<TaskName, TaskSpec>> = Object.freeze({
  embed: Object.freeze({
    defaultModel: 'Xenova/all-MiniLM-L6-v2',
    aliases: Object.freeze(['embedding', 'feature-extraction']),
    pipelineTask: 'feature-extraction',
  }),
  sentiment: Object.freeze({
    defaultModel: 'Xenova/distilbert-base-uncased-finetuned-sst-2-english',
    aliases: Object.freeze(['classify', 'text-classification', 'sentiment-analysis']),
    pipelineTask: 'text-classification',
  }),
});

const TASK_NAMES = Object.keys(TASKS) as TaskName[];

const LOOKUP: ReadonlyMap<string, TaskName> = new Map(TASK_NAMES.flatMap((task) => [task, ...TASKS[task].aliases].map((name) => [name, task] as const)));

/** Every accepted spelling, canonical names first. */
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
