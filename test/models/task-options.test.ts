import { describe, expect, expectTypeOf, it } from 'vitest';
import { z } from 'zod';
import { jobViewOptionsSchema } from '../../apps/api/src/jobs/job-view.schema.js';
import { CLI_FLAGS } from '../../apps/cli/src/cli-flags.js';
import { flagOptions, optionFlags } from '../../apps/cli/src/option-flags.js';
import {
  DEFAULT_ENCODE_OPTIONS,
  defineOptions,
  embedTask,
  InvalidEncodeOptionsError,
  listOptions,
  optionDefaults,
  payloadOptionsSchema,
  queryFlag,
  recordedOptions,
  resolveEncodeOptions,
  resolveOptions,
  TASK_MODULES,
  TASK_OPTIONS,
} from '#models';
import { ALWAYS_SHOWN_OPTIONS, commonEnvSchema, defaultModelVariables, jobViewOptions, shardOptionsSchema, shardPayloadSchema } from '#shared';

/** A task that exists only in this test: its module is all that declares its two options and its variable. */
const toyTask = Object.freeze({
  name: 'toy',
  defaultModelVariable: 'DEFAULT_MODEL_TOY',
  options: defineOptions({
    max_words: {
      field: 'maxWords',
      value: z.int().min(1).nullable(),
      default: null,
      recorded: 'always',
      body: z.int().min(1).nullish(),
      query: z.string().regex(/^\d+$/).transform(Number).pipe(z.int().min(1)).optional(),
      problem: 'option "max_words" must be an integer >= 1, or null',
    },
    shout: {
      field: 'shout',
      value: z.boolean(),
      default: false,
      recorded: 'given',
      body: z.boolean().optional(),
      query: queryFlag.optional(),
      problem: 'option "shout" must be true or false',
    },
  }),
});
const MODULES = [...TASK_MODULES, toyTask] as const;
const LISTED = listOptions(MODULES);

describe('task options derived from the task modules', () => {
  it('lists every task option once, in registry order, with truncate last', () => {
    expect(TASK_OPTIONS.map(({ name, task }) => `${task ?? '*'}:${name}`)).toEqual([
      'embed:pooling',
      'embed:normalize',
      'embed:dimensions',
      'embed:prompt',
      'embed:prompt_name',
      'sentiment:top_k',
      'sentiment:function_to_apply',
      'token-classification:aggregation_strategy',
      'token-classification:ignore_labels',
      'rerank:raw_scores',
      'rerank:return_text',
      '*:truncate',
    ]);
    for (const { name, option } of TASK_OPTIONS) {
      // Each default is a stored value, and the API's absent value resolves to it.
      expect(option.value.safeParse(option.default).success, name).toBe(true);
      expect(option.field).toMatch(/^[a-z][A-Za-z]*$/);
      expect(option.field.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)).toBe(name);
    }
  });

  it('takes a field declared by two tasks once when they agree, and refuses two meanings of one field', () => {
    const again = { name: 'again', options: { pooling: embedTask.options.pooling } };
    expect(listOptions([embedTask, again]).filter(({ name }) => name === 'pooling')).toHaveLength(1);
    const otherDefault = { name: 'other', options: { pooling: { ...embedTask.options.pooling, default: 'cls' } } };
    expect(() => listOptions([embedTask, otherDefault])).toThrow('option field "pooling" of other and embed differ: defaults "mean" and "cls"');
    const otherValue = { name: 'other', options: { pooling: { ...embedTask.options.pooling, value: z.enum(['mean', 'cls', 'max']) } } };
    expect(() => listOptions([embedTask, otherValue])).toThrow('differ: value schemas');
    const otherName = { name: 'other', options: { pool: embedTask.options.pooling } };
    expect(() => listOptions([embedTask, otherName])).toThrow('API names "pooling" and "pool"');
  });

  it('resolves options with the defaults and refuses a bad value naming its field', () => {
    expect(DEFAULT_ENCODE_OPTIONS).toEqual({
      pooling: 'mean',
      normalize: true,
      dimensions: null,
      prompt: null,
      promptName: null,
      topK: null,
      functionToApply: null,
      aggregationStrategy: 'none',
      ignoreLabels: ['O'],
      rawScores: false,
      returnText: false,
      truncate: true,
    });
    expect(resolveEncodeOptions({ topK: 3, ignoreLabels: [] })).toMatchObject({ topK: 3, ignoreLabels: [], pooling: 'mean' });
    const refused: Array<[object, string]> = [
      [{ pooling: 'max' }, 'pooling is "max": Invalid option: expected one of "mean"|"cls"'],
      [{ topK: 0 }, 'topK is 0: Too small'],
      [{ dimensions: 1.5 }, 'dimensions is 1.5'],
      [{ normalize: 1 }, 'normalize is 1: Invalid input: expected boolean'],
      [{ ignoreLabels: ['O', 3] }, 'ignoreLabels.1 is ["O",3]'],
      [{ truncate: 'yes' }, 'truncate is "yes"'],
      [{ prompt: 'query: ', promptName: 'query' }, 'give "prompt" or "prompt_name", not both'],
    ];
    for (const [options, message] of refused) {
      expect(() => resolveEncodeOptions(options as never)).toThrow(InvalidEncodeOptionsError);
      expect(() => resolveEncodeOptions(options as never)).toThrow(message);
    }
  });

  it('shows the always-shown options in every job view and the others only when the job has them', () => {
    expect(jobViewOptions({ pooling: 'cls', normalize: true, truncate: false })).toEqual({
      pooling: 'cls',
      normalize: true,
      top_k: null,
      function_to_apply: null,
      dimensions: null,
      prompt: null,
      prompt_name: null,
      truncate: false,
    });
    expect(jobViewOptions({ rawScores: true, returnText: false, truncate: true, itemTokens: true })).toMatchObject({ raw_scores: true, return_text: false, pooling: null });
    expect(Object.keys(jobViewOptionsSchema().properties ?? {})).toEqual([...ALWAYS_SHOWN_OPTIONS, 'aggregation_strategy', 'ignore_labels', 'raw_scores', 'return_text']);
  });

  it('picks up a new task module everywhere without another edit: payloads, resolving, job records, job views, the docs, the environment and the CLI', () => {
    // Shard payloads: the new fields are checked, and optional (shards queued before them still parse).
    const payload = payloadOptionsSchema(MODULES);
    expect(payload.parse({ maxWords: 3, shout: true, truncate: false })).toEqual({ maxWords: 3, shout: true, truncate: false });
    expect(payload.parse({})).toEqual({});
    expect(payload.safeParse({ maxWords: 0 }).success).toBe(false);
    expectTypeOf(payload.parse({}).maxWords).toEqualTypeOf<number | null | undefined>();
    expect(shardOptionsSchema(MODULES).parse({ shout: false, itemTokens: true })).toEqual({ shout: false, itemTokens: true });
    // The registry's own payload schema does not know the toy's fields (zod drops them).
    expect(shardPayloadSchema.shape.options.parse({ maxWords: 3 })).toEqual({});

    expect(optionDefaults(MODULES)).toMatchObject({ maxWords: null, shout: false, truncate: true });
    expect(resolveOptions(MODULES, { shout: true })).toMatchObject({ maxWords: null, shout: true, pooling: 'mean' });
    expect(() => resolveOptions(MODULES, { maxWords: -1 })).toThrow('maxWords is -1');

    // Job records: max_words is always recorded, shout only when asked for.
    expect(recordedOptions(toyTask, {})).toEqual({ maxWords: null, truncate: true });
    expect(recordedOptions(toyTask, { max_words: 7, shout: true, truncate: false })).toEqual({ maxWords: 7, shout: true, truncate: false });

    // Job views and their OpenAPI schema.
    expect(jobViewOptions({ maxWords: 7, truncate: true }, LISTED)).toMatchObject({ max_words: 7, pooling: null, truncate: true });
    expect(jobViewOptions({ truncate: true }, LISTED)).not.toHaveProperty('max_words');
    expect(jobViewOptionsSchema(LISTED).properties).toMatchObject({
      max_words: { type: 'integer', nullable: true, description: 'toy jobs only' },
      shout: { type: 'boolean', description: 'toy jobs only' },
    });

    // The environment: DEFAULT_MODEL_TOY, like the registry's variables.
    const env = z.object(defaultModelVariables(MODULES));
    expect(env.parse({ DEFAULT_MODEL_TOY: ' toy-model ', DEFAULT_MODEL_EMBED: '' })).toEqual({ DEFAULT_MODEL_TOY: 'toy-model', DEFAULT_MODEL_EMBED: undefined });
    expect(commonEnvSchema.parse({ DEFAULT_MODEL_RERANK: 'x' }).DEFAULT_MODEL_RERANK).toBe('x');

    // The CLI: --max-words N and --[no-]shout, for toy jobs only.
    const flags = optionFlags(LISTED, Object.keys(CLI_FLAGS));
    expect(flags.filter((flag) => flag.task === 'toy')).toEqual([
      { flag: 'max-words', name: 'max_words', task: 'toy', boolean: false, value: 'N' },
      { flag: 'shout', name: 'shout', task: 'toy', boolean: true, value: '' },
    ]);
    expect(flagOptions(flags, { 'max-words': '5', 'no-shout': true }, 'toy')).toEqual({ options: { max_words: '5', shout: 'false' } });
    expect(flagOptions(flags, { shout: true }, 'embed').problem).toBe('--shout is an option of toy jobs, not embed ones');
  });
});
