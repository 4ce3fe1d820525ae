/**
 * Everything about task options that is not one task's business, derived from the option tables of
 * a list of task modules (the registry's, or a longer one in a test): the options as a whole, their
 * defaults, the schema a shard payload checks them with, and how a request's options are resolved
 * or recorded. A new option or task is therefore one module edit; nothing here lists an option.
 */
import { z } from 'zod';
import { InvalidEncodeOptionsError } from '../errors.js';
import { COMMON_OPTIONS, type CommonOptions, type OptionsOf, type ResolvedCommonOptions, type ResolvedOptionsOf, type TaskOption, type TaskOptionTable } from './task-module.js';

/** What the derivations read of a task module. */
export interface OptionsHolder {
  readonly name: string;
  readonly options: TaskOptionTable;
}

/** One option of a module list: its API name, the task it belongs to (undefined: every task's, like truncate) and its definition. */
export interface ListedOption {
  readonly name: string;
  readonly task: string | undefined;
  readonly option: TaskOption;
}

type UnionToIntersection<U> = (U extends unknown ? (union: U) => void : never) extends (intersection: infer I) => void ? I : never;
type TablesOf<Modules extends readonly OptionsHolder[]> = Modules[number]['options'];

/** The options of every module in the list, as a request gives them (each optional), and the common ones. */
export type ModuleOptions<Modules extends readonly OptionsHolder[]> = UnionToIntersection<
  TablesOf<Modules> extends infer T ? (T extends TaskOptionTable ? OptionsOf<T> : never) : never
> &
  CommonOptions;

/** The same with every default applied. */
export type ResolvedModuleOptions<Modules extends readonly OptionsHolder[]> = UnionToIntersection<
  TablesOf<Modules> extends infer T ? (T extends TaskOptionTable ? ResolvedOptionsOf<T> : never) : never
> &
  ResolvedCommonOptions;

/** Each option's resolved value by its API (snake_case) name, as job views show them. */
export type ApiOptionValues<Modules extends readonly OptionsHolder[]> = UnionToIntersection<
  TablesOf<Modules> extends infer T ? (T extends TaskOptionTable ? { -readonly [Name in keyof T]: z.output<T[Name]['value']> } : never) : never
> & { truncate: boolean };

/** The zod shape of a payload's options: each field's stored value, optional. */
export type PayloadOptionsShape<Modules extends readonly OptionsHolder[]> = UnionToIntersection<
  TablesOf<Modules> extends infer T ? (T extends TaskOptionTable ? { [Name in keyof T as T[Name]['field']]: z.ZodOptional<T[Name]['value']> } : never) : never
> & { truncate: z.ZodOptional<(typeof COMMON_OPTIONS)['truncate']['value']> };

/** listOptions' answers by module list and by module: the lists are constants (TASK_MODULES), asked at every request. */
const LISTED = new WeakMap<readonly OptionsHolder[] | OptionsHolder, readonly ListedOption[]>();

/**
 * Every option of the modules, each task's in list order, then the common ones. A field that two
 * tasks declare must mean the same in both (value schema, default, API name): it is one field of
 * shard payloads and job records. Throws when they differ. Worked out once per list (and module):
 * a list must not change once listed.
 */
export function listOptions(modules: readonly OptionsHolder[]): readonly ListedOption[] {
  const key = modules.length === 1 ? (modules[0] as OptionsHolder) : modules;
  let listed = LISTED.get(key);
  if (listed === undefined) {
    listed = collectOptions(modules);
    LISTED.set(key, listed);
  }
  return listed;
}

function collectOptions(modules: readonly OptionsHolder[]): readonly ListedOption[] {
  const listed: ListedOption[] = [];
  const byField = new Map<string, ListedOption>();
  const add = (entry: ListedOption) => {
    const seen = byField.get(entry.option.field);
    if (seen === undefined) {
      byField.set(entry.option.field, entry);
      listed.push(entry);
      return;
    }
    const problem = disagreement(seen, entry);
    if (problem !== undefined) throw new Error(`option field "${entry.option.field}" of ${entry.task ?? 'every task'} and ${seen.task ?? 'every task'} differ: ${problem}`);
  };
  for (const module of modules) for (const [name, option] of Object.entries(module.options)) add({ name, task: module.name, option });
  for (const [name, option] of Object.entries(COMMON_OPTIONS)) add({ name, task: undefined, option });
  return Object.freeze(listed);
}

function disagreement(a: ListedOption, b: ListedOption): string | undefined {
  if (a.name !== b.name) return `API names "${a.name}" and "${b.name}"`;
  if (JSON.stringify(a.option.default) !== JSON.stringify(b.option.default)) return `defaults ${JSON.stringify(a.option.default)} and ${JSON.stringify(b.option.default)}`;
  const schema = (option: TaskOption) => JSON.stringify(z.toJSONSchema(option.value, { unrepresentable: 'any' }));
  if (schema(a.option) !== schema(b.option)) return 'value schemas';
  return undefined;
}

/** The options object of a shard payload: every field optional, so that shards queued before a field existed still parse. */
export function payloadOptionsSchema<const Modules extends readonly OptionsHolder[]>(modules: Modules): z.ZodObject<PayloadOptionsShape<Modules>> {
  const shape = Object.fromEntries(listOptions(modules).map(({ option }) => [option.field, option.value.optional()]));
  return z.object(shape) as unknown as z.ZodObject<PayloadOptionsShape<Modules>>;
}

/** Every field's default. */
export function optionDefaults<const Modules extends readonly OptionsHolder[]>(modules: Modules): Readonly<ResolvedModuleOptions<Modules>> {
  return Object.freeze(Object.fromEntries(listOptions(modules).map(({ option }) => [option.field, option.default]))) as Readonly<ResolvedModuleOptions<Modules>>;
}

/**
 * Every field of `given` checked against its value schema, and the defaults filled in; a bad value
 * throws InvalidEncodeOptionsError naming the field. Fields no module declares are left out.
 */
export function resolveOptions<const Modules extends readonly OptionsHolder[]>(modules: Modules, given: object | undefined): ResolvedModuleOptions<Modules> {
  const values = (given ?? {}) as Readonly<Record<string, unknown>>;
  const resolved: Record<string, unknown> = {};
  for (const { option } of listOptions(modules)) {
    const value = values[option.field];
    if (value === undefined) {
      resolved[option.field] = option.default;
      continue;
    }
    const parsed = option.value.safeParse(value);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      const where = [option.field, ...(issue?.path ?? [])].map(String).join('.');
      throw new InvalidEncodeOptionsError(`${where} is ${JSON.stringify(value)}: ${issue?.message ?? 'invalid value'}`);
    }
    resolved[option.field] = parsed.data;
  }
  return resolved as ResolvedModuleOptions<Modules>;
}

/**
 * The options a job record holds, from a request's validated API options (by API name) for one task:
 * the task's own, then the common ones; an option left out holds its default when it is `recorded:
 * 'always'`, and is left out otherwise. Another task's options are ignored (the API refused them).
 */
export function recordedOptions(module: OptionsHolder, given: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const recorded: Record<string, unknown> = {};
  for (const { name, option } of listOptions([module])) {
    const value = given[name];
    if (value != null) recorded[option.field] = value;
    else if (option.recorded === 'always') recorded[option.field] = option.default;
  }
  return recorded;
}
