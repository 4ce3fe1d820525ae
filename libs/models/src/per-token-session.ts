/**
 * Swaps a loaded q8 model's ONNX session for one built from the per-token
 * rewrite of the same file (see per-token-quantization.ts). Thread-side only:
 * it imports onnxruntime-node, which transformers.js has already loaded there.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { env, type PreTrainedModel } from '@huggingface/transformers';
import { InferenceSession } from 'onnxruntime-node';
import { ModelLoadError } from './errors.js';
import { toPerTokenQuantization } from './per-token-quantization.js';
import type { ModelRef, ThreadConfig } from './thread-protocol.js';

/** transformers.js's name for the q8 file, under the model's onnx/ folder. */
const Q8_FILE = join('onnx', 'model_quantized.onnx');

/**
 * The q8 file transformers.js just loaded: in the model folder (MODEL_DIR) or in its file cache
 * (Hub models, which it stores under `cacheDir/<model id>/`).
 */
function q8Path(ref: ModelRef, location: string, config: ThreadConfig): string {
  if (config.modelDir !== undefined) return join(location, Q8_FILE);
  if (!env.useFSCache || !env.cacheDir) {
    throw new ModelLoadError(ref.modelId, "per-token q8 reads the downloaded file from transformers.js's file cache, which is off here; set Q8_MODE=dynamic");
  }
  return join(env.cacheDir, ref.modelId, Q8_FILE);
}

export async function usePerTokenQuantization(model: PreTrainedModel, ref: ModelRef, location: string, config: ThreadConfig): Promise<void> {
  const names = Object.keys(model.sessions);
  const [name] = names;
  if (names.length !== 1 || name === undefined) {
    throw new ModelLoadError(ref.modelId, `per-token q8 supports single-session models (this one has ${names.join(', ')}); set Q8_MODE=dynamic`);
  }
  const path = q8Path(ref, location, config);
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new ModelLoadError(ref.modelId, `per-token q8 cannot read ${path} (${(error as Error).message}); set Q8_MODE=dynamic`);
  }
  const { bytes: rewritten } = toPerTokenQuantization(ref.modelId, bytes);
  const old = model.sessions[name] as InferenceSession & { config?: unknown };
  const session = (await InferenceSession.create(rewritten, {
    executionProviders: [config.device],
    intraOpNumThreads: config.intraOpThreads,
    interOpNumThreads: 1,
    // Errors reach the caller as exceptions; ORT's own log would only repeat them (as transformers.js's does).
    logSeverityLevel: 4,
  })) as InferenceSession & { config?: unknown };
  // transformers.js reads the dtype and device it recorded on the session.
  session.config = old.config;
  model.sessions[name] = session;
  await old.release();
}
