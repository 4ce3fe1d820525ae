/**
 * Public surface of the models library, used by the worker app. Everything
 * not exported here (thread protocol, scheduler, transformers.js loading) is
 * an implementation detail and may change without notice.
 */
export { AGGREGATION_STRATEGIES, type AggregationStrategy, type Entity, extractEntities } from './entities.js';
export { alignTokens, tokensToString, type AlignableTokenizer, type TokenAlignment } from './token-alignment.js';
export {
  CLASSIFICATION_FUNCTIONS,
  classifyTask,
  collectRankings,
  defaultModelsFrom,
  embedTask,
  isTaskName,
  rankDocuments,
  rerankPairs,
  rerankTask,
  resolveTask,
  TASK_MODULES,
  TASK_NAMES,
  TASK_NAMES_AND_ALIASES,
  TASKS,
  taskModule,
  queryFlag,
  COMMON_OPTIONS,
  defineOptions,
  listOptions,
  optionDefaults,
  payloadOptionsSchema,
  recordedOptions,
  resolveOptions,
  TASK_OPTIONS,
  type ApiOptionValues,
  type ListedOption,
  type ModuleOptions,
  type OptionsHolder,
  type PayloadOptionsShape,
  type ResolvedEncodeOptions,
  type ResolvedModuleOptions,
  type TaskOptionTable,
  type ClassificationFunction,
  tokenClassificationTask,
  type JsonSchema,
  type RerankItem,
  type TaskBatch,
  type TaskInputKind,
  type TaskItemValue,
  type TaskModelClass,
  type TaskModule,
  type TaskName,
  type TaskOption,
  type TaskOptionProblem,
  type TaskOutputKind,
} from './tasks/index.js';
export { MODEL_REGISTRY, resolveModelId, type ResolveModelOptions } from './model-id.js';
export { readHubModelInfo, readModelInfo, type ModelDtype, type ModelInfo } from './model-info.js';
export { DEFAULT_HUB_ENDPOINT, fetchHubFile, fetchHubJson, hubFileUrl, type HubFileOptions } from './hub-files.js';
export { InferencePool } from './inference-pool.js';
export { DEFAULT_ENCODE_OPTIONS, resolveEncodeOptions } from './encode-options.js';
export { float32ToHalfBits, halfBitsToFloat32 } from './float16.js';
export type { Device } from './device.js';
export type { Pooling } from './pooling.js';
export type {
  EncodeOptions,
  EncodeRequest,
  EncodeResponse,
  EncodeStats,
  InferencePoolOptions,
  ItemErrorCode,
  ItemResult,
  PoolDtype,
  RankedDocument,
  Q8Mode,
} from './types.js';
export {
  AbortError,
  DeviceUnavailableError,
  HubFileError,
  InvalidEncodeOptionsError,
  InvalidModelError,
  InvalidPoolOptionsError,
  ModelLoadError,
  PoolStateError,
  ThreadCrashedError,
  ThreadEntryMissingError,
  ThreadStartError,
  UnknownModelError,
  UnknownTaskError,
  UnsupportedDtypeError,
  UnsupportedTaskError,
} from './errors.js';
