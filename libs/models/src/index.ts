/**
 * Public surface of the models library, used by the worker app. Everything
 * not exported here (thread protocol, scheduler, transformers.js loading) is
 * an implementation detail and may change without notice.
 */
export { TASKS, resolveTask, type TaskName, type TaskSpec } from './tasks.js';
export { MODEL_REGISTRY, resolveModelId, type ResolveModelOptions } from './model-id.js';
export { readModelInfo, type ModelDtype, type ModelInfo } from './model-info.js';
export { InferencePool } from './inference-pool.js';
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
  Q8Mode,
} from './types.js';
export {
  AbortError,
  DeviceUnavailableError,
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
