import type { ParseArgsConfig } from 'node:util';
import { TASK_OPTIONS } from '#models';
import { optionFlags, parseArgsOptions } from './option-flags.js';

/** The CLI's own flags; each task option gets one more (OPTION_FLAGS). */
export const CLI_FLAGS = {
  task: { type: 'string' },
  model: { type: 'string' },
  truncate: { type: 'boolean' },
  'no-truncate': { type: 'boolean' },
  option: { type: 'string', multiple: true },
  metadata: { type: 'string' },
  'callback-url': { type: 'string' },
  'text-column': { type: 'string' },
  'id-column': { type: 'string' },
  delimiter: { type: 'string' },
  'input-format': { type: 'string' },
  'file-id': { type: 'string' },
  object: { type: 'string' },
  wait: { type: 'boolean', short: 'w' },
  output: { type: 'string', short: 'o' },
  format: { type: 'string' },
  partial: { type: 'boolean' },
  limit: { type: 'string' },
  offset: { type: 'string' },
  'api-url': { type: 'string' },
  'api-key': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

/** A flag per task option, from the registry (`--top-k 3`, `--no-normalize`); loading throws when one would shadow a CLI flag. */
export const OPTION_FLAGS = optionFlags(TASK_OPTIONS, Object.keys(CLI_FLAGS));

/** Every flag parseArgs reads. */
export const PARSE_OPTIONS = { ...CLI_FLAGS, ...parseArgsOptions(OPTION_FLAGS) } satisfies ParseArgsConfig['options'];
