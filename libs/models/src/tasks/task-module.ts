/**
 * What one task is, in one place: its names and default model, its options and their defaults,
 * the model class it loads, the shape of its output and how raw ONNX outputs become a result.
 * The API, the worker, the CLI and the result formats read tasks only through this interface
 * (via the registry), so a new task is one module plus one registry line.
 */
import { z } from 'zod';
import type { ItemResult, TaskModelShape } from './task-io.js';
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

/**
 * One option of a task, all of it in one place: how the API validates it (JSON body, query string),
 * what to say when it is bad, and how it is stored (its camelCase field in EncodeOptions, shard
 * payloads and job records, the schema of the stored value and its default). Everything else (the
 * shard payload schema, the job view, resolveEncodeOptions, the CLI flags) is derived from these.
 */
export interface TaskOption<Field extends string = string, Value extends z.ZodType = z.ZodType> {
  /** Its value in a JSON body's `options` object. */
  readonly body: z.ZodType;
  /** Its value as a query parameter of an NDJSON upload (always a string there). */
  readonly query: z.ZodType;
  /** The INVALID_OPTION message for a bad value. */
  readonly problem: string;
  /** Its name in EncodeOptions, shard payloads and job records (camelCase). */
  readonly field: Field;
  /** The stored value once resolved (what a shard payload holds and a thread sees). */
  readonly value: Value;
  /** The value when a request leaves the option out. */
  readonly default: z.output<Value>;
  /**
   * `always`: a job record holds the default when the request leaves the option out; `given`: only
   * what the request set (so that the records of jobs that do not use the option stay as they were).
   */
  readonly recorded: 'always' | 'given';
}

/** A task's options by their API (snake_case) name. */
export type TaskOptionTable = Readonly<Record<string, TaskOption>>;

/** The options as a request gives them to the pool (EncodeOptions): every field optional. */
export type OptionsOf<Table extends TaskOptionTable> = { -readonly [Name in keyof Table as Table[Name]['field']]?: z.output<Table[Name]['value']> };

/** The options with every default applied (ResolvedEncodeOptions). */
export type ResolvedOptionsOf<Table extends TaskOptionTable> = { -readonly [Name in keyof Table as Table[Name]['field']]: z.output<Table[Name]['value']> };

/**
 * A task's option table, checked: each default is a value of its option's schema (by type here,
 * by value in the registry's test). The `const` keeps field names literal for the derived types.
 */
export function defineOptions<const Table extends Readonly<Record<string, TaskOption<string, z.ZodType>>>>(
  table: Table & { readonly [Name in keyof Table]: { readonly default: z.output<Table[Name]['value']> } },
): Readonly<Table> {
  return Object.freeze(table);
}

/** A task's own options with its defaults applied, and the common ones. */
export type ResolvedTaskOptions<Options extends TaskOptionTable> = ResolvedOptionsOf<Options> & ResolvedCommonOptions;

/** A boolean option as a query-string value: exactly `true` or `false`, read as a boolean. */
export const queryFlag = z.enum(['true', 'false']).transform((value) => value === 'true');

/**
 * A true/false option (`name` in the API, `field` when stored): a boolean in JSON bodies, exactly
 * `true` or `false` in query strings, its default recorded in every job.
 */
export function booleanOption<const Field extends string>(name: string, field: Field, defaultValue: boolean, description: string) {
  return {
    field,
    value: z.boolean(),
    default: defaultValue,
    recorded: 'always' as const,
    body: z.boolean().optional().meta({ description }),
    query: queryFlag.optional().meta({ description }),
    problem: `option "${name}" must be true or false`,
  };
}

const TRUNCATE_DESCRIPTION = 'false fails over-long texts instead of truncating them; true when absent';

/** The options every task has, after each task's own wherever options are listed. */
export const COMMON_OPTIONS = defineOptions({
  truncate: booleanOption('truncate', 'truncate', true, TRUNCATE_DESCRIPTION),
});

/** What every task's options have: `truncate` (cut over-long texts to the model limit instead of failing them). */
export type CommonOptions = OptionsOf<typeof COMMON_OPTIONS>;
export type ResolvedCommonOptions = ResolvedOptionsOf<typeof COMMON_OPTIONS>;

/** A task option that does not fit the model: the option's API name and what is wrong. */
export interface TaskOptionProblem {
  readonly option: string;
  readonly message: string;
}

/** One batch as post-processing sees it, with the task's own resolved options. */
export interface TaskBatch<Resolved = ResolvedCommonOptions> {
  readonly info: TaskModelShape;
  /** Texts in the batch. */
  readonly batch: number;
  /** Padded sequence length. */
  readonly seq: number;
  /** Kept tokens per item `// [batch]` (right padding: the first `length` positions are real). */
  readonly lengths: Int32Array;
  readonly options: Resolved;
}

/** An item's successful result less what every task has (`ok`, `tokens`, `truncated`). */
export type TaskItemValue = Extract<ItemResult, { ok: true }> extends infer Ok ? (Ok extends unknown ? Omit<Ok, 'ok' | 'tokens' | 'truncated'> : never) : never;

/**
 * A task. `Options` is its option table: its methods see its own options, typed, with the defaults
 * applied (and `truncate`); the registry derives EncodeOptions from every module's table.
 */
export interface TaskModule<Name extends string = string, Options extends TaskOptionTable = TaskOptionTable> {
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
  /** API options of the task by their API (snake_case) name; `truncate` is common to all tasks (COMMON_OPTIONS) and not listed. */
  readonly options: Options;
  /** Floats per item the thread returns for these options, 0 when unknown (a classifier without labels). */
  rowWidth(info: TaskModelShape, options: ResolvedTaskOptions<Options>): number;
  /**
   * What is wrong with these options for this model (`dimensions` wider than the model, an unknown
   * `prompt_name`, two options that exclude each other), by API option name, or undefined when they
   * fit. `info` is null when the model is not known yet (the API, for a Hub model): only what needs
   * no model is checked then. The pool asks again once the model is loaded.
   */
  optionsProblem?(info: TaskModelShape | null, options: OptionsOf<Options>): TaskOptionProblem | undefined;
  /** Text put before every input before tokenization (sentence-transformers prompts); none when absent. */
  textPrefix?(info: TaskModelShape, options: ResolvedTaskOptions<Options>): string;
  /** Raw ONNX outputs of one batch to `// [batch, rowWidth]` floats; throws when the outputs do not fit the model. */
  postProcess(outputs: Readonly<Record<string, TensorLike | undefined>>, batch: TaskBatch<ResolvedTaskOptions<Options>>): Float32Array;
  /** The fields of a successful result line besides `id`, `index`, `truncated` (and `tokens`), in line order: the API reference's result schema. */
  readonly resultFields: Readonly<Record<string, JsonSchema>>;
  /** One item's row (from postProcess) as its result; `alignment` is there when the task `alignsTokens`. */
  toResult(row: Float32Array, info: TaskModelShape, options: ResolvedTaskOptions<Options>, alignment?: TokenAlignment): TaskItemValue;
  /** The OpenAI-style synchronous route that serves the task, where there is one. */
  readonly openaiEndpoint?: string;
}
