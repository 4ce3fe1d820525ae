import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidModelError, UnknownModelError } from './errors.js';
import { fetchHubJson, hubFileUrl, type HubFileOptions } from './hub-files.js';
import { assertSafeModelId, hasLocalModel } from './model-id.js';
import { TASK_MODULES, type TaskName } from './tasks/index.js';

/** ONNX weight variants transformers.js knows, keyed by the file-name suffix it looks for in onnx/. */
export const DTYPE_FILE_SUFFIXES = Object.freeze({
  fp32: '',
  fp16: '_fp16',
  q8: '_quantized',
  int8: '_int8',
  uint8: '_uint8',
  q4: '_q4',
  q4f16: '_q4f16',
  bnb4: '_bnb4',
} as const);

export type ModelDtype = keyof typeof DTYPE_FILE_SUFFIXES;

/** What a worker needs to know about a model before sending it text. */
export interface ModelInfo {
  id: string;
  /** `model_type` from config.json, e.g. `bert`, `distilbert`, `roberta`. */
  family: string;
  /** Tasks the exported graph can serve (a classifier export has no hidden-state output). */
  tasks: TaskName[];
  /** Hidden size; the embedding length for `embed`. */
  dimensions: number;
  /** Class labels in logit order (per token for token classifiers), or null for models that are not classifiers. */
  labels: string[] | null;
  /** A classifier's `problem_type` from config.json (`multi_label_classification`, ...), when it has one. */
  problemType?: string;
  /** sentence-transformers prompts by name (the model's config_sentence_transformers.json), when it has some. */
  prompts?: Record<string, string>;
  /** The prompt sentence-transformers uses when none is asked for (`default_prompt_name`). */
  defaultPromptName?: string;
  /** Longest input in tokens, special tokens included. */
  maxTokens: number;
  /** Weight variants present in onnx/ (only known for local folders; Hub models report the loaded one, or none when read by readHubModelInfo). */
  dtypes: ModelDtype[];
}

type Json = Record<string, unknown>;

// These families number positions from padding_idx + 1, so two position slots are never usable by text.
const POSITION_OFFSET_FAMILIES = new Set(['roberta', 'xlm-roberta', 'camembert', 'mpnet', 'longformer']);
const POSITION_OFFSET = 2;
// HF writes 1e30 into model_max_length when the tokenizer itself has no limit.
const UNSET_LENGTH = 1e9;
const FALLBACK_MAX_TOKENS = 512;

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
}

/** Builds ModelInfo from the two JSON files; shared by readModelInfo and the threads (for Hub models). */
export function modelInfoFromConfigs(id: string, config: Json, tokenizerConfig: Json, dtypes: ModelDtype[]): ModelInfo {
  const family = typeof config.model_type === 'string' ? config.model_type : 'unknown';
  const architectures = Array.isArray(config.architectures) ? config.architectures.filter((a): a is string => typeof a === 'string') : [];
  const classifier = architectures.some((a) => a.endsWith('ForSequenceClassification') || a.endsWith('ForTokenClassification'));

  const dimensions = num(config.hidden_size) ?? num(config.dim) ?? num(config.d_model);
  if (dimensions === undefined) throw new InvalidModelError(id, 'config.json has no hidden_size (or dim / d_model); is this an encoder model?');

  const positions = num(config.max_position_embeddings);
  const fromPositions = positions === undefined ? undefined : positions - (POSITION_OFFSET_FAMILIES.has(family) ? POSITION_OFFSET : 0);
  const tokenizerLimit = num(tokenizerConfig.model_max_length);
  const limits = [fromPositions, tokenizerLimit !== undefined && tokenizerLimit < UNSET_LENGTH ? tokenizerLimit : undefined];
  const known = limits.filter((x): x is number => x !== undefined);
  const maxTokens = known.length > 0 ? Math.min(...known) : FALLBACK_MAX_TOKENS;

  const labels = classifier ? labelsOf(config) : null;
  return {
    id,
    family,
    tasks: TASK_MODULES.filter((task) => task.servesArchitectures(architectures, labels)).map((task) => task.name),
    dimensions,
    labels,
    ...(classifier && typeof config.problem_type === 'string' ? { problemType: config.problem_type } : {}),
    maxTokens,
    dtypes,
  };
}

function labelsOf(config: Json): string[] {
  const id2label = config.id2label && typeof config.id2label === 'object' ? (config.id2label as Record<string, unknown>) : {};
  const count = Math.max(num(config.num_labels) ?? 0, Object.keys(id2label).length);
  // Keys are strings ("0", "1", ...) in JSON; index order is what the logits use.
  return Array.from({ length: count }, (_, i) => {
    const label = id2label[String(i)];
    return typeof label === 'string' ? label : `LABEL_${i}`;
  });
}

/** The prompts of a config_sentence_transformers.json (string values only), and its default_prompt_name when it names one of them. */
export function promptsOf(sentenceTransformers: Json): Pick<ModelInfo, 'prompts' | 'defaultPromptName'> {
  const raw = sentenceTransformers.prompts;
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) return {};
  const prompts = Object.fromEntries(Object.entries(raw as Json).filter((entry): entry is [string, string] => typeof entry[1] === 'string'));
  if (Object.keys(prompts).length === 0) return {};
  const fallback = sentenceTransformers.default_prompt_name;
  return { prompts, ...(typeof fallback === 'string' && Object.hasOwn(prompts, fallback) ? { defaultPromptName: fallback } : {}) };
}

/** Maps onnx/ file names to the dtypes they provide (`model_quantized.onnx` -> q8). */
export function dtypesFromFiles(files: readonly string[]): ModelDtype[] {
  const present = new Set(files);
  return (Object.keys(DTYPE_FILE_SUFFIXES) as ModelDtype[]).filter((d) => present.has(`model${DTYPE_FILE_SUFFIXES[d]}.onnx`));
}

/** Reads ModelInfo for a folder under modelDir without loading the model. */
export async function readModelInfo(modelId: string, opts: { modelDir?: string }): Promise<ModelInfo> {
  assertSafeModelId(modelId);
  if (opts.modelDir === undefined) {
    throw new InvalidModelError(modelId, 'readModelInfo reads local files; pass modelDir, or use InferencePool.load() which reports ModelInfo for Hub models');
  }
  if (!hasLocalModel(opts.modelDir, modelId)) {
    throw new UnknownModelError(modelId, `no config.json under ${join(opts.modelDir, modelId)}`);
  }
  const folder = join(opts.modelDir, modelId);
  const config = await readJson(join(folder, 'config.json'), modelId);
  const tokenizerConfig = await readJson(join(folder, 'tokenizer_config.json'), modelId).catch((error: unknown) => {
    // Optional file; a malformed one is still an error.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  });
  const sentenceTransformers = await readJson(join(folder, 'config_sentence_transformers.json'), modelId).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  });
  const files = await readdir(join(folder, 'onnx')).catch(() => [] as string[]);
  return { ...modelInfoFromConfigs(modelId, config, tokenizerConfig, dtypesFromFiles(files)), ...promptsOf(sentenceTransformers) };
}

/**
 * Reads ModelInfo of a Hub model from its three config files on the endpoint, without downloading
 * weights (so its dtypes are unknown: `[]`). Throws HubFileError when the endpoint fails or refuses
 * (401 for a missing or gated repository), UnknownModelError when the repository has no config.json.
 */
export async function readHubModelInfo(modelId: string, opts: HubFileOptions = {}): Promise<ModelInfo> {
  assertSafeModelId(modelId);
  const [config, tokenizerConfig, sentenceTransformers] = await Promise.all(
    ['config.json', 'tokenizer_config.json', 'config_sentence_transformers.json'].map((file) => fetchHubJson(modelId, file, opts)),
  );
  if (!config) throw new UnknownModelError(modelId, `${hubFileUrl(modelId, 'config.json', opts)} does not exist`);
  return { ...modelInfoFromConfigs(modelId, config, tokenizerConfig ?? {}, []), ...promptsOf(sentenceTransformers ?? {}) };
}

async function readJson(path: string, modelId: string): Promise<Json> {
  const text = await readFile(path, 'utf8');
  try {
    const value: unknown = JSON.parse(text);
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Json;
  } catch {
    // fall through to the error below
  }
  throw new InvalidModelError(modelId, `${path} is not a JSON object; re-export the model`);
}
