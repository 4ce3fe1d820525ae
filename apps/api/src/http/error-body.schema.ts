import type { SchemaObject } from '@nestjs/swagger';
import { int, obj, str } from '../docs/schema-builders.js';

/** The API's error body, `{"error": {code, message, line?, field?}}` (ErrorResponder writes it), for the OpenAPI document. */
export const apiErrorSchema: SchemaObject = obj({
  error: obj({
    code: str('stable code, e.g. DUPLICATE_ID, LINE_TOO_LONG, INPUT_NOT_FOUND, BACKLOG_FULL, JOB_NOT_FOUND'),
    message: str('what is wrong and where'),
    line: int('1-based line of an NDJSON body'),
    field: str(),
  }),
});
