/**
 * What one task is, in one place: its names and default model, its options and their defaults,
 * the model class it loads, the shape of its output and how raw ONNX outputs become a result.
 * The API, the worker, the CLI and the result formats read tasks only through this interface
 * (via the registry), so a new task is one module plus one registry line.
 */
import { z } from 'zod';
import type { EncodeOptions, ItemResult, ResolvedEncodeOptions, TaskModelShape } from './task-io.js';
import type { TensorLike } from '../tensor-data.js';
import type { TokenAlignment } from '../token-alignment.js';

/**
 * What one input item is. `text`: one string. `text-pair`: one string, or a pair
 * `{text, text_pair}` tokenized as a pair with token_type_ids and `longest_first` truncation
 * (cross-encoders). `query-documents`: one query and many documents, scored pair by pair (rerank).
 */
export type TaskInputKind = 'text' | 'text-pair' | 'query-documents';

/**
 * What one result is. `vector`: a fixed-width float row (embeddings; f32/npy/Arrow list columns).
 * `label-scores`: a label, its score and a label -> score map (classifiers). `json`: a JSON value per
 * item whose size varies (entities of token classification, a sorted rerank list); NDJSON and
 * Parquet/Arrow as a JSON string column only.
 */
export type TaskOutputKind = 'vector' | 'label-scores' | 'json';

/** A JSON Schema (OpenAPI 3.0) object, as plain data. */
export type JsonSchema = Readonly<Record<string, unknown>>;

/** The transformers.js class the thread loads for the task. */
export type TaskModelClass = 'AutoModel' | 'AutoModelForSequenceClassification' | 'AutoModelForTokenClassification';

/** One API option of a task: how it is validated in a JSON body and in a query string, and what to say when it is bad. */
export interface TaskOption {
  /** Its value in a JSON body's `options` object. */
  readonly body: z.ZodType;
  /** Its value as a query parameter of an NDJSON upload (always a string there). */
  readonly query: z.ZodType;
  /** The INVALID_OPTION message for a bad value. */
  readonly problem: string;
}

/** A task option that does not fit the model: the option's API name and what is wrong. */
export interface TaskOptionProblem {
  readonly option: string;
  readonly message: string;
}

/** One batch as post-processing sees it. */
export interface TaskBatch {
  readonly info: TaskModelShape;
  /** Texts in the batch. */
  readonly batch: number;
  /** Padded sequence length. */
  readonly seq: number;
  /** Kept tokens per item `// [batch]` (right padding: the first `length` positions are real). */
  readonly lengths: Int32Array;
  readonly options: ResolvedEncodeOptions;
}

/** An item's successful result less what every task has (`ok`, `tokens`, `truncated`). */
export type TaskItemValue = Extract<ItemResult, { ok: true }> extends infer Ok ? (Ok extends unknown ? Omit<Ok, 'ok' | 'tokens' | 'truncated'> : never) : never;

export interface TaskModule<Name extends string = string> {
  /** Canonical name: what job records, shard payloads and result headers hold. */
  readonly name: Name;
  /** Other names clients may use (Hub pipeline names included); unique across all tasks. */
  readonly aliases: readonly string[];
  /** One line for the API reference and the CLI help. */
  readonly summary: string;
  /** Hub id used when a request names no model. */
  readonly defaultModel: string;
  /** The environment variable that overrides defaultModel (declared in the env schema, libs/shared/src/config). */
  readonly defaultModelVariable: string;
  /** The transformers.js `pipeline()` task this reproduces. */
  readonly pipelineTask: string;
  readonly input: TaskInputKind;
  readonly output: TaskOutputKind;
  readonly modelClass: TaskModelClass;
  /** Whether a model with these `config.architectures` (empty for a base export) and labels (classifiers; null otherwise) serves the task. */
  servesArchitectures(architectures: readonly string[], labels?: readonly string[] | null): boolean;
  /** What to export for the task, for UnsupportedTaskError ("a *ForSequenceClassification export"). */
  readonly modelHint: string;
  /** Whether tokenizing also aligns each kept token to the text (offsets, words), for toResult. @defaultValue `false` */
  readonly alignsTokens?: boolean;
  /** API options of the task by their API (snake_case) name; `truncate` is common to all tasks and not listed. */
  readonly options: Readonly<Record<string, TaskOption>>;
  /** The task's options with its defaults filled in, from the validated API options (API names). */
  withDefaults(given: Readonly<Record<string, unknown>>): EncodeOptions;
  /** Floats per item the thread returns for these options, 0 when unknown (a classifier without labels). */
  rowWidth(info: TaskModelShape, options: ResolvedEncodeOptions): number;
  /**
   * What is wrong with these options for this model (`dimensions` wider than the model, an unknown
   * `prompt_name`, two options that exclude each other), by API option name, or undefined when they
   * fit. `info` is null when the model is not known yet (the API, for a Hub model): only what needs
   * no model is checked then. The pool asks again once the model is loaded.
   */
  optionsProblem?(info: TaskModelShape | null, options: EncodeOptions): TaskOptionProblem | undefined;
  /** Text put before every input before tokenization (sentence-transformers prompts); none when absent. */
  textPrefix?(info: TaskModelShape, options: ResolvedEncodeOptions): string;
  /** Raw ONNX outputs of one batch to `// [batch, rowWidth]` floats; throws when the outputs do not fit the model. */
  postProcess(outputs: Readonly<Record<string, TensorLike | undefined>>, batch: TaskBatch): Float32Array;
  /** The fields of a successful result line besides `id`, `index`, `truncated` (and `tokens`), in line order: the API reference's result schema. */
  readonly resultFields: Readonly<Record<string, JsonSchema>>;
  /** One item's row (from postProcess) as its result; `alignment` is there when the task `alignsTokens`. */
  toResult(row: Float32Array, info: TaskModelShape, options: ResolvedEncodeOptions, alignment?: TokenAlignment): TaskItemValue;
  /** The OpenAI-style synchronous route that serves the task, where there is one. */
  readonly openaiEndpoint?: string;
}

/** A boolean option as a query-string value: exactly `true` or `false`, read as a boolean. */
export const queryFlag = z.enum(['true', 'false']).transform((value) => value === 'true');
