import type { SchemaObject } from '@nestjs/swagger';
import { int, obj, str } from '../../docs/schema-builders.js';

/** InferenceResponseBody (openai-response.ts), per endpoint, for the OpenAPI document. */
const usage = obj({ prompt_tokens: int(), total_tokens: int() });

export const embeddingsResponseSchema: SchemaObject = obj({
  object: str(undefined, { enum: ['list'] }),
  data: {
    type: 'array',
    items: obj({
      object: str(undefined, { enum: ['embedding'] }),
      index: int(),
      embedding: { oneOf: [{ type: 'array', items: { type: 'number' } }, str('base64 of little-endian float32')] },
    }),
  },
  model: str(),
  usage,
});

export const classificationsResponseSchema: SchemaObject = obj({
  object: str(undefined, { enum: ['list'] }),
  data: {
    type: 'array',
    items: obj({
      object: str(undefined, { enum: ['classification'] }),
      index: int(),
      label: str(),
      score: { type: 'number' },
      scores: { type: 'object', additionalProperties: { type: 'number' } },
    }),
  },
  model: str(),
  usage,
});
