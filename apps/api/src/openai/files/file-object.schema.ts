import type { SchemaObject } from '@nestjs/swagger';
import { int, obj, str } from '../../docs/schema-builders.js';

/** A FileObject (files.service.ts), for the OpenAPI document. */
export const fileObjectSchema: SchemaObject = obj({
  id: str(undefined, { example: 'file-abc123' }),
  object: str(undefined, { enum: ['file'] }),
  bytes: int(),
  created_at: int('unix seconds'),
  filename: str(),
  purpose: str('batch: a batch input; user_data: a corpus for POST /v1/jobs (input_file_id); batch_output: written by the server', {
    enum: ['batch', 'user_data', 'batch_output'],
  }),
  status: str(undefined, { enum: ['processed'] }),
});
