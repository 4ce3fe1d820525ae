import type { SchemaObject } from '@nestjs/swagger';
import { int, obj, str } from '../docs/schema-builders.js';

/** One line of a job's NDJSON results or errors, for the OpenAPI document. */
export const resultLineSchema: SchemaObject = {
  oneOf: [
    obj({ id: str(), index: int(), embedding: { type: 'array', items: { type: 'number' } }, truncated: { type: 'boolean' } }),
    obj({
      id: str(),
      index: int(),
      label: str(),
      score: { type: 'number' },
      scores: { type: 'object', additionalProperties: { type: 'number' } },
      truncated: { type: 'boolean' },
    }),
    obj({ id: str(), index: int(), error: obj({ code: str(), message: str() }) }),
  ],
};
