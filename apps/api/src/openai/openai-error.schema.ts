import type { SchemaObject } from '@nestjs/swagger';
import { nullable, obj, str } from '../docs/schema-builders.js';

/** OpenAI's error body (OpenAIErrorBody, openai-error.ts), for the OpenAPI document. */
export const openAIErrorSchema: SchemaObject = obj({
  error: obj({ message: str(), type: str(undefined, { example: 'invalid_request_error' }), param: nullable(str()), code: nullable(str()) }),
});

/** An OpenAI list page of `item`. */
export const openAIListSchema = (item: SchemaObject): SchemaObject =>
  obj({ object: str(undefined, { enum: ['list'] }), data: { type: 'array', items: item }, first_id: nullable(str()), last_id: nullable(str()), has_more: { type: 'boolean' } });
