/**
 * Thread-side transformers.js setup and model loading. Only the inference
 * thread imports this module: pulling transformers.js (and onnxruntime) into
 * the worker app's main thread would cost memory and startup for nothing.
 */
import { resolve } from 'node:path';
import {
  AutoModel,
  AutoModelForSequenceClassification,
  AutoModelForTokenClassification,
  AutoTokenizer,
  env,
  LogLevel,
  type PreTrainedModel,
  type PreTrainedTokenizer,
} from '@huggingface/transformers';
import { explainDeviceFailure } from './device.js';
import { ModelLoadError, UnsupportedDtypeError, UnsupportedTaskError } from './errors.js';
import { modelInfoFromConfigs, readModelInfo, type ModelInfo } from './model-info.js';
import { MODEL_HINTS, taskModule, type TaskModelClass } from './tasks/index.js';
import { usePerTokenQuantization } from './per-token-session.js';
import type { ModelRef, ThreadConfig } from './thread-protocol.js';

/** The transformers.js class behind each TaskModule.modelClass. */
const MODEL_CLASSES: Readonly<Record<TaskModelClass, typeof AutoModel>> = { AutoModel, AutoModelForSequenceClassification, AutoModelForTokenClassification };

export interface LoadedParts {
  tokenizer: PreTrainedTokenizer;
  model: PreTrainedModel;
  info: ModelInfo;
  /** Input names of the ONNX session, e.g. whether it wants token_type_ids. */
  inputNames: readonly string[];
}

/** Points transformers.js at modelDir (offline) or at the Hub. Called once per thread. */
export function configureTransformers(config: ThreadConfig): void {
  // transformers.js logs a failed run together with its input ids (user text, recoverable by decoding);
  // every failure already reaches the caller as an error, so its own logging stays off.
  env.logLevel = LogLevel.NONE;
  if (config.modelDir !== undefined) {
    env.localModelPath = config.modelDir;
    env.allowLocalModels = true;
    env.allowRemoteModels = false;
    // Local folders need no cache, and a stale cached copy of a same-named Hub model must never win.
    env.useFSCache = false;
  } else {
    env.allowLocalModels = false;
    env.allowRemoteModels = true;
  }
}

export async function loadParts(ref: ModelRef, config: ThreadConfig): Promise<LoadedParts> {
  // Folder ids may be nested deeper than transformers.js's "org/name" check accepts, so local
  // models are addressed by absolute path (readModelInfo below checks that they lie inside modelDir).
  const location = config.modelDir === undefined ? ref.modelId : resolve(config.modelDir, ref.modelId);
  // A local folder is described the way the API and the pool read it; a Hub model only once loaded.
  const local = config.modelDir === undefined ? undefined : await readModelInfo(ref.modelId, { modelDir: config.modelDir });
  if (local && !local.dtypes.includes(config.dtype)) throw new UnsupportedDtypeError(ref.modelId, config.dtype, local.dtypes);

  let tokenizer: PreTrainedTokenizer;
  let model: PreTrainedModel;
  try {
    tokenizer = await AutoTokenizer.from_pretrained(location);
  } catch (error) {
    throw new ModelLoadError(ref.modelId, `tokenizer: ${messageOf(error)}`);
  }
  const ModelClass = MODEL_CLASSES[taskModule(ref.task).modelClass];
  try {
    model = await ModelClass.from_pretrained(location, {
      dtype: config.dtype,
      device: config.device,
      // One inference thread per core group: inter-op parallelism would fight the other threads.
      session_options: { intraOpNumThreads: config.intraOpThreads, interOpNumThreads: 1 },
    });
  } catch (error) {
    if (config.device !== 'cpu') throw explainDeviceFailure(config.device, error);
    throw new ModelLoadError(ref.modelId, messageOf(error));
  }
  if (config.dtype === 'q8' && (config.q8Mode ?? 'per-token') === 'per-token') {
    try {
      await usePerTokenQuantization(model, ref, location, config);
    } catch (error) {
      await model.dispose();
      throw error;
    }
  }

  const info = local ?? modelInfoFromConfigs(ref.modelId, asJson(model.config), asJson(tokenizer.config), [config.dtype]);
  if (!info.tasks.includes(ref.task)) {
    await model.dispose();
    throw new UnsupportedTaskError(ref.modelId, ref.task, info.tasks, MODEL_HINTS);
  }
  const session = model.sessions.model ?? Object.values(model.sessions)[0];
  const inputNames: readonly string[] = Array.isArray(session?.inputNames) ? session.inputNames : ['input_ids', 'attention_mask'];
  return { tokenizer, model, info, inputNames };
}

function asJson(value: unknown): Record<string, unknown> {
  return value && typeof value === 'object' ? (value as Record<string, unknown>) : {};
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
