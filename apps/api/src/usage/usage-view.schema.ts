import type { SchemaObject } from '@nestjs/swagger';
import { int, obj, str } from '../docs/schema-builders.js';

const usageRowSchema = obj(
  {
    object: str(undefined, { enum: ['usage'] }),
    date: str('The UTC day, YYYY-MM-DD', { example: '2026-12-03' }),
    tenant: str('The tenant billed'),
    model: str('The model id, as jobs report it'),
    texts: int('Texts that got a result (failed texts are not billed)'),
    tokens: int("Those texts' tokens as the model ran them: special tokens included, after truncation"),
  },
  ['object', 'date', 'tenant', 'model', 'texts', 'tokens'],
);

export const usageListSchema: SchemaObject = obj(
  {
    object: str(undefined, { enum: ['list'] }),
    from: str('First day, included'),
    to: str('Last day, included'),
    data: { type: 'array', items: usageRowSchema, description: 'One row per day, tenant and model with use; by day, then tenant, then model' },
    total: obj({ texts: int(), tokens: int() }, ['texts', 'tokens']),
  },
  ['object', 'from', 'to', 'data', 'total'],
);
