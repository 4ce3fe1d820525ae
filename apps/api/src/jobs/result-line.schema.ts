import type { SchemaObject } from '@nestjs/swagger';
import { TASK_MODULES } from '#models';
import { int, obj, str } from '../docs/schema-builders.js';

/** One line of a job's NDJSON results or errors, for the OpenAPI document. */
export const resultLineSchema: SchemaObject = {
  oneOf: [
    // One successful line per task (TaskModule.resultFields), then the failed line.
    ...TASK_MODULES.map((task) => obj({ id: str(), index: int(), ...(task.resultFields as Record<string, SchemaObject>), truncated: { type: 'boolean' } })),
    obj({ id: str(), index: int(), error: obj({ code: str(), message: str() }) }),
  ],
};
