import { z } from 'zod';
import { l2NormalizeRows, poolHidden, truncateRows } from '../pooling.js';
import { toFloat32 } from '../tensor-data.js';
import type { TaskModelShape } from './task-io.js';
import { booleanOption, defineOptions, type TaskModule, type TaskOptionProblem } from './task-module.js';

const pooling = z.enum(['mean', 'cls']);
const dimensions = z.int().min(1);
// A prompt is an instruction of a few words ("query: ", "Represent this sentence for searching relevant passages: ").
const MAX_PROMPT_CHARS = 1000;
const prompt = z.string().max(MAX_PROMPT_CHARS);
const promptName = z.string().min(1).max(200);

/** The prompt put before every text, as sentence-transformers picks it: `prompt`, else `prompt_name`, else the model's default_prompt_name. */
export function promptOf(info: TaskModelShape, options: { prompt?: string | null; promptName?: string | null }): string {
  if (options.prompt != null) return options.prompt;
  const name = options.promptName ?? info.defaultPromptName;
  return name === undefined ? '' : (info.prompts?.[name] ?? '');
}

function promptNameProblem(info: TaskModelShape, name: string): TaskOptionProblem | undefined {
  const names = Object.keys(info.prompts ?? {});
  if (names.includes(name)) return undefined;
  const known = names.length === 0 ? 'the model has none (no prompts in its config_sentence_transformers.json)' : `the model has ${names.map((n) => `"${n}"`).join(', ')}`;
  return { option: 'prompt_name', message: `unknown prompt_name "${name}"; ${known}` };
}

const EMBED_OPTIONS = defineOptions({
  pooling: {
    field: 'pooling',
    value: pooling,
    default: 'mean',
    recorded: 'always',
    body: pooling.nullish().meta({ description: 'embed only; mean when absent' }),
    query: pooling.optional().meta({ description: 'embed only; mean when absent' }),
    problem: 'option "pooling" must be "mean" or "cls"',
  },
  normalize: booleanOption('normalize', 'normalize', true, 'embed only; true when absent'),
  dimensions: {
    field: 'dimensions',
    value: dimensions.nullable(),
    default: null,
    // Written only when asked for, so the records of jobs that do not use them stay as they were (also prompt, prompt_name).
    recorded: 'given',
    body: dimensions.nullish().meta({
      description: "embed only; Matryoshka: keep the first N values of each embedding, then L2-normalise (when normalize); at most the model's width; absent or null: all",
    }),
    query: z.string().regex(/^\d+$/).transform(Number).pipe(dimensions).optional().meta({ description: 'embed only; keep the first N values of each embedding' }),
    problem: `option "dimensions" must be an integer >= 1 (at most the model's width), or null for the full width`,
  },
  prompt: {
    field: 'prompt',
    value: z.string().nullable(),
    default: null,
    recorded: 'given',
    body: prompt
      .nullish()
      .meta({ description: `embed only; text put before every input before tokenization, e.g. "query: " (at most ${MAX_PROMPT_CHARS} characters); not with prompt_name` }),
    query: prompt.optional().meta({ description: 'embed only; text put before every input before tokenization' }),
    problem: `option "prompt" must be a string of at most ${MAX_PROMPT_CHARS} characters (put before every text), or null`,
  },
  prompt_name: {
    field: 'promptName',
    value: z.string().nullable(),
    default: null,
    recorded: 'given',
    body: promptName.nullish().meta({
      description:
        "embed only; a prompt of the model's config_sentence_transformers.json by name (e.g. query, passage); absent: the model's default_prompt_name, if any; not with prompt",
    }),
    query: promptName.optional().meta({ description: "embed only; a prompt of the model's config_sentence_transformers.json by name" }),
    problem: 'option "prompt_name" must be the name of one of the model\'s prompts (config_sentence_transformers.json), or null',
  },
});

/** Sentence embeddings: pooled (mean or CLS) last hidden states, optionally cut to `dimensions` (Matryoshka), L2-normalised by default. */
export const embedTask = Object.freeze({
  name: 'embed',
  aliases: Object.freeze(['embedding', 'feature-extraction']),
  summary: 'embed (embedding, feature-extraction): one float vector per text',
  defaultModel: 'Xenova/all-MiniLM-L6-v2',
  defaultModelVariable: 'DEFAULT_MODEL_EMBED',
  pipelineTask: 'feature-extraction',
  input: 'text',
  output: 'vector',
  modelClass: 'AutoModel',
  servesArchitectures: (architectures) => !architectures.some((a) => a.endsWith('ForSequenceClassification') || a.endsWith('ForTokenClassification')),
  modelHint: 'embed: a base encoder',
  options: EMBED_OPTIONS,
  optionsProblem(info, options) {
    if (options.prompt != null && options.promptName != null) return { option: 'prompt_name', message: 'give "prompt" or "prompt_name", not both' };
    if (info === null) return undefined;
    if (options.dimensions != null && options.dimensions > info.dimensions) {
      return {
        option: 'dimensions',
        message: `option "dimensions" is ${options.dimensions}, but the model's embeddings have ${info.dimensions} values; ask for at most ${info.dimensions}`,
      };
    }
    if (options.promptName != null) return promptNameProblem(info, options.promptName);
    return undefined;
  },
  textPrefix: (info, options) => promptOf(info, options),
  rowWidth: (info, options) => options.dimensions ?? info.dimensions,
  postProcess(outputs, { info, batch, seq, lengths, options }) {
    const hidden = outputs.last_hidden_state ?? outputs.token_embeddings; // [batch, seq, hidden]
    if (hidden?.dims.length !== 3) throw new Error(`model output has no [batch, seq, hidden] tensor (got: ${Object.keys(outputs).join(', ')})`);
    const width = hidden.dims[2] as number;
    if (width !== info.dimensions) throw new Error(`hidden size ${width} does not match config (${info.dimensions})`);
    const full = poolHidden(toFloat32(hidden), [batch, seq, width], lengths, options.pooling, new Float32Array(batch * width)); // [batch, hidden]
    const kept = options.dimensions ?? width;
    const pooled = kept === width ? full : truncateRows(full, width, kept); // [batch, kept]
    return options.normalize ? l2NormalizeRows(pooled, kept) : pooled;
  },
  resultFields: Object.freeze({ embedding: { type: 'array', items: { type: 'number' } } }),
  toResult: (row) => ({ embedding: row.slice() }),
  openaiEndpoint: '/v1/embeddings',
} as const satisfies TaskModule<'embed', typeof EMBED_OPTIONS>);
