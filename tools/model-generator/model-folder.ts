import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { GENERATOR_VERSION } from './config-json.js';
import { DTYPES, ONNX_FILE, type Dtype } from './model-spec.js';
import type { JsonObject } from './tokenizer-artifacts.js';

/** Everything that goes into one model folder. */
export interface ModelFiles {
  config: JsonObject;
  tokenizerJson: JsonObject;
  tokenizerConfig: JsonObject;
  /** config_sentence_transformers.json (prompts), embedding models only. */
  sentenceTransformersConfig?: JsonObject;
  onnx: Partial<Record<Dtype, Uint8Array>>;
}

const exists = async (path: string): Promise<boolean> =>
  stat(path).then(
    () => true,
    () => false,
  );

/**
 * Dtypes already on disk in a finished folder from this generator version, or
 * null when the folder is missing, unfinished or stale. Folders only appear
 * by rename, so a folder with config.json was written completely.
 */
export async function existingDtypes(dir: string): Promise<Dtype[] | null> {
  try {
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as { shardwise_generator_version?: number };
    if (config.shardwise_generator_version !== GENERATOR_VERSION) return null;
    if (!(await exists(join(dir, 'tokenizer.json'))) || !(await exists(join(dir, 'tokenizer_config.json')))) return null;
  } catch {
    return null;
  }
  const present: Dtype[] = [];
  for (const dtype of DTYPES) if (await exists(join(dir, 'onnx', ONNX_FILE[dtype]))) present.push(dtype);
  return present;
}

/**
 * Writes the folder next to its destination, then renames it into place, so
 * a crash or a concurrent generator never exposes half a model. Returns false
 * when another process finished the same folder first (ours is discarded).
 */
export async function writeModelFolder(dir: string, files: ModelFiles): Promise<boolean> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const suffix = `${process.pid}-${randomBytes(4).toString('hex')}`;
  const temp = join(parent, `.tmp-${suffix}`);
  const json = (value: JsonObject): string => `${JSON.stringify(value, null, 2)}\n`;
  try {
    await mkdir(join(temp, 'onnx'), { recursive: true });
    await writeFile(join(temp, 'config.json'), json(files.config));
    await writeFile(join(temp, 'tokenizer.json'), JSON.stringify(files.tokenizerJson));
    await writeFile(join(temp, 'tokenizer_config.json'), json(files.tokenizerConfig));
    if (files.sentenceTransformersConfig) await writeFile(join(temp, 'config_sentence_transformers.json'), json(files.sentenceTransformersConfig));
    for (const [dtype, bytes] of Object.entries(files.onnx) as Array<[Dtype, Uint8Array]>) {
      await writeFile(join(temp, 'onnx', ONNX_FILE[dtype]), bytes);
    }
    const old = join(parent, `.old-${suffix}`);
    const replacing = await exists(dir);
    if (replacing) await rename(dir, old);
    try {
      await rename(temp, dir);
    } catch (error) {
      const restored =
        replacing &&
        (await rename(old, dir).then(
          () => true,
          () => false,
        ));
      if (replacing && !restored) await rm(old, { recursive: true, force: true });
      // Lost a race: another generator's rename landed first (ENOTEMPTY/EEXIST).
      if (!restored && (await existingDtypes(dir)) !== null) return false;
      throw error;
    }
    if (replacing) await rm(old, { recursive: true, force: true });
    return true;
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
