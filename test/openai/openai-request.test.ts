import { describe, expect, it } from 'vitest';
import { InputError } from '#shared';
import { itemId, parseBatchLine, parseInferenceBody, RequestBodyError } from '../../apps/api/src/openai/inference/openai-request.js';
import { float32Base64, requestError, responseBody } from '../../apps/api/src/openai/inference/openai-response.js';

const line = (value: unknown) => JSON.stringify(value);
const valid = { custom_id: 'a', method: 'POST', url: '/v1/embeddings', body: { model: 'm', input: 'x' } };

function fails(fn: () => unknown): InputError {
  try {
    fn();
  } catch (error) {
    if (error instanceof InputError) return error;
    throw error;
  }
  throw new Error('did not throw');
}

describe('OpenAI request parsing', () => {
  it('reads bodies: single string or list, defaults, extensions', () => {
    expect(parseInferenceBody('/v1/embeddings', { model: 'm', input: 'x' })).toEqual({
      model: 'm',
      inputs: ['x'],
      single: true,
      encodingFormat: 'float',
      dimensions: null,
      truncate: undefined,
      topK: undefined,
      functionToApply: undefined,
    });
    expect(parseInferenceBody('/v1/embeddings', { model: 'm', input: 'x', dimensions: 256 }).dimensions).toBe(256);
    expect(parseInferenceBody('/v1/classifications', { model: 'm', input: 'x', function_to_apply: 'sigmoid' }).functionToApply).toBe('sigmoid');
    expect(parseInferenceBody('/v1/classifications', { model: 'm', input: ['a', ''], top_k: 2, truncate: false })).toMatchObject({
      inputs: ['a', ''],
      single: false,
      topK: 2,
      truncate: false,
    });
  });

  it('names the parameter of each problem', () => {
    const param = (endpoint: '/v1/embeddings' | '/v1/classifications', body: unknown) => {
      try {
        parseInferenceBody(endpoint, body);
      } catch (error) {
        return (error as RequestBodyError).param;
      }
      return 'accepted';
    };
    expect(param('/v1/embeddings', { input: 'x' })).toBe('model');
    expect(param('/v1/embeddings', { model: 'm', input: [] })).toBe('input');
    expect(param('/v1/embeddings', { model: 'm', input: [1, 2, 3] })).toBe('input');
    expect(param('/v1/embeddings', { model: 'm', input: 'x', encoding_format: 'int8' })).toBe('encoding_format');
    expect(param('/v1/embeddings', { model: 'm', input: 'x', top_k: 1 })).toBe('top_k');
    expect(param('/v1/classifications', { model: 'm', input: 'x', top_k: 0 })).toBe('top_k');
    expect(param('/v1/classifications', { model: 'm', input: 'x', function_to_apply: 'relu' })).toBe('function_to_apply');
    expect(param('/v1/embeddings', { model: 'm', input: 'x', dimensions: 0 })).toBe('dimensions');
    expect(param('/v1/embeddings', { model: 'm', input: 'x', function_to_apply: 'sigmoid' })).toBe('function_to_apply');
    expect(param('/v1/embeddings', { model: 'm', input: 'x', temperature: 1 })).toBe('temperature');
  });

  it('refuses batch lines with the line number and the field', () => {
    expect(parseBatchLine(line(valid), 4, '/v1/embeddings')).toMatchObject({ customId: 'a', request: { inputs: ['x'] } });
    expect(fails(() => parseBatchLine('{', 7, '/v1/embeddings'))).toMatchObject({ code: 'INVALID_JSON', where: { line: 7 } });
    expect(fails(() => parseBatchLine(line({ ...valid, custom_id: 5 }), 2, '/v1/embeddings')).where).toEqual({ line: 2, field: 'custom_id' });
    expect(fails(() => parseBatchLine(line({ ...valid, custom_id: 'a\u0000b' }), 2, '/v1/embeddings')).where.field).toBe('custom_id');
    expect(fails(() => parseBatchLine(line({ ...valid, method: 'GET' }), 2, '/v1/embeddings')).where.field).toBe('method');
    expect(fails(() => parseBatchLine(line(valid), 2, '/v1/classifications')).where.field).toBe('url');
    expect(fails(() => parseBatchLine(line({ ...valid, body: { model: 'm', input: 3 } }), 9, '/v1/embeddings'))).toMatchObject({
      message: expect.stringMatching(/^line 9: body: /),
      where: { line: 9, field: 'body.input' },
    });
    expect(fails(() => parseBatchLine(line({ ...valid, extra: 1 }), 2, '/v1/embeddings')).where.field).toBe('extra');
  });

  it('gives every input of a request its own item id, the first being the custom_id', () => {
    expect([0, 1, 2].map((i) => itemId('c', i))).toEqual(['c', 'c\u00001', 'c\u00002']);
  });

  it('builds bodies and errors from result lines', () => {
    const lines = [
      { id: 'a', index: 0, embedding: [1, 0], tokens: 3 },
      { id: 'b', index: 1, embedding: [0, 1], tokens: 4 },
    ];
    expect(responseBody('/v1/embeddings', 'm', lines, 'float')).toEqual({
      object: 'list',
      data: [
        { object: 'embedding', index: 0, embedding: [1, 0] },
        { object: 'embedding', index: 1, embedding: [0, 1] },
      ],
      model: 'm',
      usage: { prompt_tokens: 7, total_tokens: 7 },
    });
    const b64 = float32Base64([1.5, -2]);
    expect([...new Float32Array(new Uint8Array(Buffer.from(b64, 'base64')).buffer)]).toEqual([1.5, -2]);
    const failed = { id: 'c', index: 2, error: { code: 'TEXT_TOO_LONG', message: 'too long' } };
    const missing = { code: 'batch_cancelled', message: 'not run' };
    expect(requestError([lines[0], failed], true, missing)).toEqual({ code: 'text_too_long', message: 'input[1]: too long' });
    expect(requestError([failed], false, missing)).toEqual({ code: 'text_too_long', message: 'too long' });
    expect(requestError([lines[0], undefined], true, missing)).toEqual(missing);
  });
});
