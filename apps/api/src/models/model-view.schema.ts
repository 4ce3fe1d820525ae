import type { SchemaObject } from '@nestjs/swagger';
import { int, nullable, obj, str } from '../docs/schema-builders.js';
import { TASK_NAMES } from '#models';

/** GET /v1/models's answer (ModelView, models.service.ts), for the OpenAPI document. */
export const modelListSchema: SchemaObject = obj({
  object: str(undefined, { enum: ['list'] }),
  data: {
    type: 'array',
    items: obj({
      id: str(),
      task: { type: 'array', items: str(undefined, { enum: [...TASK_NAMES] }) },
      family: nullable(str()),
      dimensions: nullable(int()),
      labels: nullable({ type: 'array', items: str() }),
      max_tokens: nullable(int()),
      default_for: { type: 'array', items: str() },
    }),
  },
});
