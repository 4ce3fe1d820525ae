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
import { readCachedHubJson } from './hub-files.js';
import { modelInfoFromConfigs, promptsOf, readModelInfo, type ModelInfo } from './model-info.js';
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
    if (config.hubEndpoint !== undefined) env.remoteHost = `${config.hubEndpoint.replace(/\/+$/, '')}/`;
    if (config.hubCacheDir !== undefined) env.cacheDir = config.hubCacheDir;
  }
}

// transformers.js waits for the Hub without limit; this file is small, so 30 s means it is not coming.
const HUB_FILE_TIMEOUT_MS = 30_000;

/**
 * The prompts of a Hub model's config_sentence_transformers.json, which transformers.js never reads:
 * from its file cache when there (so a cached model loads offline), else from the endpoint, then cached.
 * A model without the file has no prompts; one whose file cannot be read fails to load rather than
 * silently running without its default prompt.
 */
async function hubPrompts(modelId: string, config: ThreadConfig): Promise<Pick<ModelInfo, 'prompts' | 'defaultPromptName'>> {
  const cacheDir = env.useFSCache && env.cacheDir ? env.cacheDir : undefined;
  try {
    const file = await readCachedHubJson(modelId, 'config_sentence_transformers.json', cacheDir, {
      endpoint: env.remoteHost,
      timeoutMs: HUB_FILE_TIMEOUT_MS,
      userAgent: `transformers.js/${env.version}; is_ci/${Boolean(process.env.TESTING_REMOTELY)}; shardwise`,
    });
    return promptsOf(file);
  } catch (error) {
    const where = cacheDir === undefined ? '' : ` (not in the cache ${cacheDir} either)`;
    throw new ModelLoadError(
      modelId,
      `its prompts (config_sentence_transformers.json) cannot be read${where}: ${messageOf(error)}; ${config.hubEndpoint === undefined ? 'is the Hub reachable?' : 'is HF_ENDPOINT reachable?'}`,
    );
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
  // Only tasks that put a prompt before the text need the Hub model's prompts (local folders have them already).
  if (!local && taskModule(ref.task).textPrefix !== undefined) {
    try {
      Object.assign(info, await hubPrompts(ref.modelId, config));
    } catch (error) {
      await model.dispose();
      throw error;
    }
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
