export { classifyTask } from './classify.task.js';
export { embedTask } from './embed.task.js';
export { collectRankings, rankDocuments, rerankPairs, rerankTask, type RerankItem } from './rerank.task.js';
export { tokenClassificationTask } from './token-classification.task.js';
export {
  defaultModelsFrom,
  type EncodeOptions,
  isTaskName,
  MODEL_HINTS,
  type ResolvedEncodeOptions,
  resolveTask,
  TASK_MODULES,
  TASK_NAMES,
  TASK_NAMES_AND_ALIASES,
  TASK_OPTIONS,
  TASKS,
  taskModule,
  type TaskName,
} from './registry.js';
export { COMMON_OPTIONS, defineOptions, queryFlag } from './task-module.js';
export type {
  JsonSchema,
  TaskBatch,
  TaskInputKind,
  TaskItemValue,
  TaskModelClass,
  TaskModule,
  TaskOption,
  TaskOptionProblem,
  TaskOptionTable,
  TaskOutputKind,
} from './task-module.js';
export { listOptions, optionDefaults, payloadOptionsSchema, recordedOptions, resolveOptions } from './task-options.js';
export type { ApiOptionValues, ListedOption, ModuleOptions, OptionsHolder, PayloadOptionsShape, ResolvedModuleOptions } from './task-options.js';
export { CLASSIFICATION_FUNCTIONS, type ClassificationFunction } from './task-io.js';
