export { classifyTask } from './classify.task.js';
export { embedTask } from './embed.task.js';
export { collectRankings, rankDocuments, rerankPairs, rerankTask, type RerankItem } from './rerank.task.js';
export { tokenClassificationTask } from './token-classification.task.js';
export { defaultModelsFrom, isTaskName, MODEL_HINTS, resolveTask, TASK_MODULES, TASK_NAMES, TASK_NAMES_AND_ALIASES, TASKS, taskModule, type TaskName } from './registry.js';
export { queryFlag } from './task-module.js';
export type { JsonSchema, TaskBatch, TaskInputKind, TaskItemValue, TaskModelClass, TaskModule, TaskOption, TaskOptionProblem, TaskOutputKind } from './task-module.js';
export { CLASSIFICATION_FUNCTIONS, type ClassificationFunction } from './task-io.js';
