import { describe, expect, it } from 'vitest';
import { InputError, parseNdjsonItem, toInputItem } from '#shared';
import { paramsFromBody, paramsFromQuery } from '../../apps/api/src/ingest/job-params.js';

function codeOf(fn: () => unknown): { code: string; line?: number; field?: string; message: string } {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    const e = error as InputError;
    return { code: e.code, message: e.message, ...e.where };
  }
  throw new Error('expected an InputError');
}

describe('NDJSON items', () => {
  it('accepts objects and bare strings; ids default to the index, numbers become strings', () => {
    expect(parseNdjsonItem('{"text":"a"}', 3, 7)).toEqual({ id: '7', text: 'a' });
    expect(parseNdjsonItem('"b"', 4, 8)).toEqual({ id: '8', text: 'b' });
    expect(parseNdjsonItem('{"id":42,"text":""}', 5, 9)).toEqual({ id: '42', text: '' });
    expect(parseNdjsonItem('{"id":"x","text":"c"}', 5, 9)).toEqual({ id: 'x', text: 'c' });
  });

  it('names the line and field of each problem', () => {
    expect(codeOf(() => parseNdjsonItem('{"text":', 17, 0))).toMatchObject({ code: 'INVALID_JSON', line: 17 });
    expect(codeOf(() => parseNdjsonItem('{"id":"a"}', 17, 0))).toMatchObject({ code: 'MISSING_TEXT', line: 17, field: 'text' });
    const wrongType = codeOf(() => parseNdjsonItem('{"text":5}', 17, 0));
    expect(wrongType).toEqual({ code: 'MISSING_TEXT', line: 17, field: 'text', message: 'line 17: field "text" must be a string' });
    expect(codeOf(() => parseNdjsonItem('{"id":true,"text":"a"}', 2, 0))).toMatchObject({ code: 'INVALID_INPUT', line: 2, field: 'id' });
    expect(codeOf(() => parseNdjsonItem('[1]', 2, 0))).toMatchObject({ code: 'INVALID_INPUT', line: 2 });
    expect(codeOf(() => parseNdjsonItem('null', 2, 0))).toMatchObject({ code: 'INVALID_INPUT', line: 2 });
  });

  it('names JSON inputs by index', () => {
    expect(codeOf(() => toInputItem({ id: 1 }, 3, { kind: 'index', index: 3 })).message).toBe('inputs[3]: field "text" is missing');
  });
});

describe('job parameters', () => {
  it('resolves task aliases and fills option defaults', () => {
    expect(paramsFromBody({ task: 'feature-extraction' })).toEqual({
      task: 'embed',
      model: undefined,
      options: { pooling: 'mean', normalize: true, truncate: true },
      metadata: null,
    });
    expect(paramsFromBody({ task: 'classify', options: { top_k: 2, truncate: false } }).options).toEqual({ topK: 2, truncate: false });
  });

  it('parses query strings', () => {
    const params = paramsFromQuery({ task: 'embed', model: 'm', pooling: 'cls', normalize: 'false', truncate: 'true', metadata: '{"a":1}' });
    expect(params).toEqual({ task: 'embed', model: 'm', options: { pooling: 'cls', normalize: false, truncate: true }, metadata: { a: 1 } });
    expect(paramsFromQuery({ task: 'sentiment', top_k: 'null' }).options).toEqual({ topK: null, truncate: true });
    expect(paramsFromQuery({ task: 'sentiment', top_k: '3' }).options).toEqual({ topK: 3, truncate: true });
  });

  it('reads the classify and embed options of the task modules, and names a bad one', () => {
    expect(paramsFromBody({ task: 'sentiment', options: { function_to_apply: 'sigmoid' } }).options).toEqual({ topK: null, functionToApply: 'sigmoid', truncate: true });
    expect(paramsFromQuery({ task: 'sentiment', function_to_apply: 'none' }).options).toEqual({ topK: null, functionToApply: 'none', truncate: true });
    expect(paramsFromBody({ task: 'embed', options: { dimensions: 64, prompt: 'query: ' } }).options).toEqual({
      pooling: 'mean',
      normalize: true,
      dimensions: 64,
      prompt: 'query: ',
      truncate: true,
    });
    expect(paramsFromQuery({ task: 'embed', dimensions: '64', prompt_name: 'query' }).options).toEqual({
      pooling: 'mean',
      normalize: true,
      dimensions: 64,
      promptName: 'query',
      truncate: true,
    });
    const bad = codeOf(() => paramsFromBody({ task: 'sentiment', options: { function_to_apply: 'relu' } }));
    expect(bad).toMatchObject({ code: 'INVALID_OPTION', field: 'function_to_apply' });
    expect(bad.message).toBe('option "function_to_apply" must be one of "softmax", "sigmoid", "none", or null for the model\'s own');
    expect(codeOf(() => paramsFromBody({ task: 'embed', options: { dimensions: 0 } }))).toMatchObject({ code: 'INVALID_OPTION', field: 'dimensions' });
    expect(codeOf(() => paramsFromQuery({ task: 'embed', dimensions: '1.5' }))).toMatchObject({ code: 'INVALID_OPTION', field: 'dimensions' });
    expect(codeOf(() => paramsFromBody({ task: 'embed', options: { prompt_name: '' } }))).toMatchObject({ code: 'INVALID_OPTION', field: 'prompt_name' });
    expect(codeOf(() => paramsFromBody({ task: 'sentiment', options: { dimensions: 8 } })).message).toBe('option "dimensions" applies to embed jobs only');
  });

  it('rejects bad tasks and options with their codes', () => {
    expect(codeOf(() => paramsFromBody({ task: 'translate' }))).toMatchObject({ code: 'UNKNOWN_TASK', field: 'task' });
    expect(codeOf(() => paramsFromBody({ task: 'translate' })).message).toContain('embed');
    expect(codeOf(() => paramsFromBody({}))).toMatchObject({ code: 'UNKNOWN_TASK' });
    expect(codeOf(() => paramsFromBody({ task: 'embed', options: { top_k: 1 } }))).toMatchObject({ code: 'INVALID_OPTION', field: 'top_k' });
    expect(codeOf(() => paramsFromBody({ task: 'sentiment', options: { pooling: 'mean' } }))).toMatchObject({ code: 'INVALID_OPTION', field: 'pooling' });
    expect(codeOf(() => paramsFromBody({ task: 'embed', options: { pooling: 'max' } }))).toMatchObject({ code: 'INVALID_OPTION' });
    expect(codeOf(() => paramsFromBody({ task: 'embed', options: { normalize: 1 } }))).toMatchObject({ code: 'INVALID_OPTION' });
    expect(codeOf(() => paramsFromBody({ task: 'sentiment', options: { top_k: 0 } }))).toMatchObject({ code: 'INVALID_OPTION' });
    expect(codeOf(() => paramsFromBody({ task: 'sentiment', options: { top_k: 1.5 } }))).toMatchObject({ code: 'INVALID_OPTION' });
    expect(codeOf(() => paramsFromBody({ task: 'embed', options: { nope: 1 } }))).toMatchObject({ code: 'INVALID_OPTION', field: 'nope' });
    expect(codeOf(() => paramsFromBody({ task: 'embed', options: [] }))).toMatchObject({ code: 'INVALID_OPTION' });
    expect(codeOf(() => paramsFromQuery({ task: 'embed', normalize: 'yes' }))).toMatchObject({ code: 'INVALID_OPTION' });
    expect(codeOf(() => paramsFromQuery({ task: 'sentiment', top_k: '-1' }))).toMatchObject({ code: 'INVALID_OPTION' });
    expect(codeOf(() => paramsFromBody({ task: 'embed', model: 5 }))).toMatchObject({ code: 'INVALID_MODEL' });
  });

  it('reads dedup from the body and the query string: absent is on, anything but a boolean is refused by name', () => {
    expect(paramsFromBody({ task: 'embed' }).dedup).toBeUndefined();
    expect(paramsFromBody({ task: 'embed', dedup: false }).dedup).toBe(false);
    expect(paramsFromBody({ task: 'embed', dedup: null }).dedup).toBeUndefined();
    expect(paramsFromQuery({ task: 'embed', dedup: 'false' }).dedup).toBe(false);
    expect(paramsFromQuery({ task: 'embed', dedup: 'true' }).dedup).toBe(true);
    expect(codeOf(() => paramsFromBody({ task: 'embed', dedup: 'no' }))).toMatchObject({
      code: 'INVALID_OPTION',
      field: 'dedup',
      message: expect.stringMatching(/must be true or false/),
    });
    expect(codeOf(() => paramsFromQuery({ task: 'embed', dedup: '0' }))).toMatchObject({ code: 'INVALID_OPTION', field: 'dedup' });
    expect(codeOf(() => paramsFromQuery({ task: 'embed', dedup: ['true', 'false'] }))).toMatchObject({
      code: 'INVALID_INPUT',
      field: 'dedup',
      message: 'query parameter "dedup" must be given once',
    });
  });

  it('bounds metadata to a JSON object of 16 KiB', () => {
    expect(paramsFromBody({ task: 'embed', metadata: { k: 'x'.repeat(16_000) } }).metadata).toBeTruthy();
    expect(codeOf(() => paramsFromBody({ task: 'embed', metadata: { k: 'x'.repeat(16_400) } }))).toMatchObject({ code: 'INVALID_INPUT', field: 'metadata' });
    expect(codeOf(() => paramsFromBody({ task: 'embed', metadata: [1] }))).toMatchObject({ code: 'INVALID_INPUT', field: 'metadata' });
    expect(codeOf(() => paramsFromQuery({ task: 'embed', metadata: '{oops' }))).toMatchObject({ code: 'INVALID_JSON', field: 'metadata' });
    // zod's record would drop a "__proto__" key silently: it is refused by name.
    expect(codeOf(() => paramsFromBody({ task: 'embed', metadata: JSON.parse('{"__proto__":{"x":1}}') }))).toEqual({
      code: 'INVALID_INPUT',
      field: 'metadata',
      message: 'field "metadata" contains the key "__proto__", which is not allowed',
    });
    expect(codeOf(() => paramsFromQuery({ task: 'embed', metadata: '{"__proto__":1}' }))).toMatchObject({ code: 'INVALID_INPUT', field: 'metadata' });
    expect(paramsFromQuery({ task: 'embed', metadata: 'null' }).metadata).toBeNull();
  });

  it('reports the first refused field, in the order the parameters are read', () => {
    // Options in the order given: an unknown name or another task's option, whichever comes first; then bad values, truncate first.
    expect(codeOf(() => paramsFromBody({ task: 'embed', options: { top_k: 1, nope: 1 } }))).toMatchObject({
      field: 'top_k',
      message: 'option "top_k" applies to sentiment jobs only',
    });
    expect(codeOf(() => paramsFromBody({ task: 'embed', options: { nope: 1, top_k: 1 } }))).toMatchObject({ field: 'nope' });
    expect(codeOf(() => paramsFromBody({ task: 'embed', options: { pooling: 'max', truncate: 1 } }))).toMatchObject({ field: 'truncate' });
    expect(codeOf(() => paramsFromBody({ task: 'sentiment', options: { pooling: null } }))).toMatchObject({
      field: 'pooling',
      message: 'option "pooling" applies to embed jobs only',
    });
    expect(codeOf(() => paramsFromBody({ task: 'embed', model: 5, options: [] }))).toMatchObject({ code: 'INVALID_MODEL' });
    // A query string: each parameter given once and metadata parsed before the options are judged; callback_url and expires_after last.
    expect(codeOf(() => paramsFromQuery({ task: 'embed', pooling: 'max', normalize: ['true', 'false'] }))).toMatchObject({ code: 'INVALID_INPUT', field: 'normalize' });
    expect(codeOf(() => paramsFromQuery({ task: 'embed', pooling: 'max', metadata: '{oops' }))).toMatchObject({ code: 'INVALID_JSON', field: 'metadata' });
    expect(codeOf(() => paramsFromQuery({ task: 'embed', pooling: 'max', metadata: '[1]' }))).toMatchObject({ code: 'INVALID_OPTION', field: 'pooling' });
    expect(codeOf(() => paramsFromQuery({ task: 'embed', metadata: '[1]', callback_url: ['a', 'b'] }))).toMatchObject({ code: 'INVALID_INPUT', field: 'metadata' });
    expect(codeOf(() => paramsFromQuery({ task: 'embed', expires_after: '0', callback_url: 'ftp://x' }))).toMatchObject({ code: 'INVALID_OPTION', field: 'callback_url' });
  });
});
