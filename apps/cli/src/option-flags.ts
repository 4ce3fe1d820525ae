import { z } from 'zod';
import type { ListedOption } from '#models';

/** A task option as a CLI flag: `top_k` is `--top-k VALUE`; a boolean option is `--name` and `--no-name`. */
export interface OptionFlag {
  /** The flag without its dashes. */
  readonly flag: string;
  /** The option's API name (what `--option NAME=VALUE` and the query string take). */
  readonly name: string;
  readonly task: string;
  readonly boolean: boolean;
  /** What the value looks like, for the help: `mean|cls`, `N`, `TEXT`, `A,B`. */
  readonly value: string;
}

/**
 * One flag per task option of `listed` (the registry's TASK_OPTIONS, or a longer list in a test);
 * the common ones (truncate) have flags of their own. Throws when a flag would take the name of one
 * in `taken` (the CLI's own flags) or of another option's, so a new option cannot shadow a flag.
 */
export function optionFlags(listed: readonly ListedOption[], taken: readonly string[]): readonly OptionFlag[] {
  const flags: OptionFlag[] = [];
  const used = new Map<string, string>(taken.map((flag) => [flag, 'the CLI']));
  const claim = (flag: string, owner: string) => {
    const holder = used.get(flag);
    if (holder !== undefined) throw new Error(`the flag --${flag} of ${owner} is already ${holder === 'the CLI' ? "one of the CLI's own" : `the flag of ${holder}`}`);
    used.set(flag, owner);
  };
  for (const { name, task, option } of listed) {
    if (task === undefined) continue;
    const flag = name.replaceAll('_', '-');
    const boolean = isBoolean(option.value);
    const owner = `option "${name}" (${task})`;
    claim(flag, owner);
    if (boolean) claim(`no-${flag}`, owner);
    flags.push({ flag, name, task, boolean, value: boolean ? '' : placeholder(option.value) });
  }
  return Object.freeze(flags);
}

const isBoolean = (schema: z.ZodType): boolean => jsonSchemaOf(schema).type === 'boolean';

function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  const json = z.toJSONSchema(schema, { unrepresentable: 'any' }) as Record<string, unknown>;
  // A nullable value is anyOf [value, null]; on the command line it is the value (null is the default).
  const anyOf = json.anyOf as Record<string, unknown>[] | undefined;
  return anyOf?.find((branch) => branch.type !== 'null') ?? json;
}

function placeholder(schema: z.ZodType): string {
  const json = jsonSchemaOf(schema);
  if (Array.isArray(json.enum)) return json.enum.join('|');
  if (json.type === 'integer' || json.type === 'number') return 'N';
  if (json.type === 'array') return 'A,B';
  return 'TEXT';
}

/** The flags' parseArgs options: each a string, or a boolean with its `no-` form. */
export function parseArgsOptions(flags: readonly OptionFlag[]): Record<string, { type: 'string' | 'boolean' }> {
  const options: Record<string, { type: 'string' | 'boolean' }> = {};
  for (const { flag, boolean } of flags) {
    options[flag] = { type: boolean ? 'boolean' : 'string' };
    if (boolean) options[`no-${flag}`] = { type: 'boolean' };
  }
  return options;
}

/** The flags of each task, for --help: `embed: --pooling mean|cls, --[no-]normalize, ...`. */
export function flagsHelp(flags: readonly OptionFlag[], indent: string): string {
  const tasks = [...new Set(flags.map((flag) => flag.task))];
  return tasks
    .map((task) => {
      const own = flags.filter((flag) => flag.task === task).map((flag) => (flag.boolean ? `--[no-]${flag.flag}` : `--${flag.flag} ${flag.value}`));
      return `${indent}${task}: ${own.join(', ')}`;
    })
    .join('\n');
}

/**
 * The task options the flags set, by API name, as query-string values (`--top-k 3` is `"3"`,
 * `--no-normalize` is `"false"`); `given` is what parseArgs read. A flag of another task than
 * `task` (when it is a known task's canonical name) is refused, naming the task it belongs to.
 */
export function flagOptions(
  flags: readonly OptionFlag[],
  given: Readonly<Record<string, unknown>>,
  task: string | undefined,
): { options: Record<string, string>; problem?: string } {
  const options: Record<string, string> = {};
  for (const { flag, name, task: owner, boolean } of flags) {
    const on = given[flag];
    const off = boolean ? given[`no-${flag}`] : undefined;
    if (on === undefined && off === undefined) continue;
    if (task !== undefined && owner !== task) return { options, problem: `--${on === undefined ? `no-${flag}` : flag} is an option of ${owner} jobs, not ${task} ones` };
    if (on !== undefined && off !== undefined) return { options, problem: `--${flag} and --no-${flag} exclude each other` };
    options[name] = boolean ? String(on === true) : String(on);
  }
  return { options };
}
