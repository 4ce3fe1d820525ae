import { describe, expect, it } from 'vitest';
import { CLI_FLAGS, OPTION_FLAGS, PARSE_OPTIONS } from '../../apps/cli/src/cli-flags.js';
import { flagOptions, flagsHelp, optionFlags } from '../../apps/cli/src/option-flags.js';
import { embedTask, rerankTask, TASK_OPTIONS } from '#models';

describe('CLI flags of the task options', () => {
  it('has one flag per task option of the registry, booleans with a --no- form, none shadowing a CLI flag', () => {
    expect(OPTION_FLAGS.map(({ flag, boolean }) => (boolean ? `[no-]${flag}` : flag))).toEqual([
      'pooling',
      '[no-]normalize',
      'dimensions',
      'prompt',
      'prompt-name',
      'top-k',
      'function-to-apply',
      'aggregation-strategy',
      'ignore-labels',
      '[no-]raw-scores',
      '[no-]return-text',
    ]);
    expect(Object.keys(PARSE_OPTIONS)).toEqual([...Object.keys(CLI_FLAGS), ...OPTION_FLAGS.flatMap(({ flag, boolean }) => (boolean ? [flag, `no-${flag}`] : [flag]))]);
    expect(PARSE_OPTIONS).toMatchObject({ 'no-normalize': { type: 'boolean' }, 'top-k': { type: 'string' } });
  });

  it('refuses an option whose flag would shadow a CLI flag or another option', () => {
    const option = embedTask.options.pooling;
    expect(() => optionFlags([{ name: 'model', task: 'toy', option }], Object.keys(CLI_FLAGS))).toThrow(
      'the flag --model of option "model" (toy) is already one of the CLI\'s own',
    );
    // A boolean option `truncate` of a task would take --no-truncate too.
    const flag = rerankTask.options.raw_scores;
    expect(() => optionFlags([{ name: 'truncate', task: 'toy', option: flag }], ['no-truncate'])).toThrow('the flag --no-truncate of option "truncate" (toy)');
    expect(() => optionFlags([...TASK_OPTIONS, { name: 'top_k', task: 'toy', option }], [])).toThrow(
      'the flag --top-k of option "top_k" (toy) is already the flag of option "top_k" (sentiment)',
    );
  });

  it('turns flags into the query-string values of --option, for the task they belong to', () => {
    const given = { 'top-k': '3', 'function-to-apply': 'sigmoid', 'no-normalize': undefined };
    expect(flagOptions(OPTION_FLAGS, given, 'sentiment')).toEqual({ options: { top_k: '3', function_to_apply: 'sigmoid' } });
    expect(flagOptions(OPTION_FLAGS, { 'no-normalize': true, 'ignore-labels': 'O,MISC' }, 'embed').problem).toBe(
      '--ignore-labels is an option of token-classification jobs, not embed ones',
    );
    expect(flagOptions(OPTION_FLAGS, { normalize: true, 'no-normalize': true }, 'embed').problem).toBe('--normalize and --no-normalize exclude each other');
    expect(flagOptions(OPTION_FLAGS, { 'raw-scores': true, 'no-return-text': true }, 'rerank')).toEqual({ options: { raw_scores: 'true', return_text: 'false' } });
    // An unknown --task: the API names the valid tasks.
    expect(flagOptions(OPTION_FLAGS, { 'top-k': '1' }, undefined)).toEqual({ options: { top_k: '1' } });
  });

  it('lists the flags of each task for --help', () => {
    expect(flagsHelp(OPTION_FLAGS, '  ').split('\n')).toEqual([
      '  embed: --pooling mean|cls, --[no-]normalize, --dimensions N, --prompt TEXT, --prompt-name TEXT',
      '  sentiment: --top-k N, --function-to-apply softmax|sigmoid|none',
      '  token-classification: --aggregation-strategy none|simple|first|average|max, --ignore-labels A,B',
      '  rerank: --[no-]raw-scores, --[no-]return-text',
    ]);
  });
});
