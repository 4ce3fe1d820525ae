import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { buildModelFiles } from './build-model.js';
import { existingDtypes, writeModelFolder } from './model-folder.js';
import { DTYPES, FAMILIES, HEADS, modelName, modelSpec, ONNX_FILE, SIZES, type Dtype, type Family, type Head, type Size } from './model-spec.js';
import { TokenizerCache } from './tokenizer-cache.js';

export { DTYPES, FAMILIES, HEADS, MODEL_NAMESPACE, ONNX_FILE, SIZES, modelName } from './model-spec.js';
export type { Dtype, Family, Head, Size } from './model-spec.js';

export const DEFAULT_OUT = '.cache/models';
export const DEFAULT_DTYPES: readonly Dtype[] = ['fp32', 'q8'];

export interface GenerateOptions {
  /** Root folder (transformers.js env.localModelPath); default .cache/models under the cwd. */
  out?: string;
  /** Default 'tiny'. */
  size?: Size | 'all' | readonly Size[];
  /** Default: all families. */
  family?: readonly Family[];
  /** Default: every head. */
  head?: readonly Head[];
  /** Default fp32 + q8. */
  dtype?: readonly Dtype[];
  /** Rebuild even when a complete folder exists. */
  force?: boolean;
  /** Receives one line per model. */
  log?: (line: string) => void;
}

export interface GeneratedModel {
  /** Model id, e.g. "shardwise-random/bert-tiny-embed". */
  name: string;
  /** Absolute folder path (<out>/<name>). */
  path: string;
  family: Family;
  head: Head;
  size: Size;
  /** On-disk bytes of each ONNX file present, by dtype. */
  sizes: Partial<Record<Dtype, number>>;
  /** False when a complete folder was already there and left untouched. */
  written: boolean;
}

const mb = (bytes: number): string => `${(bytes / 1e6).toFixed(1)} MB`;

async function onnxSizes(dir: string): Promise<Partial<Record<Dtype, number>>> {
  const sizes: Partial<Record<Dtype, number>> = {};
  for (const dtype of DTYPES) {
    const info = await stat(join(dir, 'onnx', ONNX_FILE[dtype])).catch(() => null);
    if (info) sizes[dtype] = info.size;
  }
  return sizes;
}

/**
 * Writes random-weight models in the folder layout transformers.js loads
 * locally, skipping complete ones. Models are built one at a time: a minilm
 * model holds ~0.3 GB of buffers while it is encoded.
 */
export async function generateModels(options: GenerateOptions = {}): Promise<GeneratedModel[]> {
  const out = resolve(options.out ?? DEFAULT_OUT);
  const sizes: readonly Size[] = options.size === 'all' ? SIZES : typeof options.size === 'string' ? [options.size] : (options.size ?? ['tiny']);
  const dtypes = options.dtype ?? DEFAULT_DTYPES;
  const log = options.log ?? (() => undefined);
  const tokenizers = new TokenizerCache();
  const results: GeneratedModel[] = [];

  for (const size of sizes) {
    for (const family of options.family ?? FAMILIES) {
      for (const head of options.head ?? HEADS) {
        const name = modelName(family, size, head);
        const path = join(out, name);
        const present = options.force ? null : await existingDtypes(path);
        if (present && dtypes.every((d) => present.includes(d))) {
          results.push({ name, path, family, head, size, sizes: await onnxSizes(path), written: false });
          log(`${name}: up to date`);
          continue;
        }
        const started = Date.now();
        // Keep dtypes that were already there: the rebuilt folder replaces the old one whole.
        const wanted = DTYPES.filter((d) => dtypes.includes(d) || present?.includes(d));
        const tokenizer = await tokenizers.get(family, size);
        const files = await buildModelFiles(modelSpec(family, size, head, tokenizer.vocabSize), tokenizer, wanted);
        const written = await writeModelFolder(path, files);
        const onDisk = await onnxSizes(path);
        results.push({ name, path, family, head, size, sizes: onDisk, written });
        const detail = wanted.map((d) => `${d} ${mb(onDisk[d] ?? 0)}`).join(', ');
        log(`${name}: ${written ? 'wrote' : 'written concurrently by another process'} ${detail} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
      }
    }
  }
  return results;
}
