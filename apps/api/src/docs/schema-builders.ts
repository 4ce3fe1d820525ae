import type { SchemaObject } from '@nestjs/swagger';
import { z } from 'zod';

/** Builders for the response shapes the OpenAPI document describes by hand (they have no validator). */
export const str = (description?: string, extra: SchemaObject = {}): SchemaObject => ({ type: 'string', ...(description ? { description } : {}), ...extra });
export const int = (description?: string, extra: SchemaObject = {}): SchemaObject => ({ type: 'integer', ...(description ? { description } : {}), ...extra });
export const nullable = (schema: SchemaObject): SchemaObject => ({ ...schema, nullable: true });
export const obj = (properties: Record<string, SchemaObject>, required?: string[]): SchemaObject => ({ type: 'object', properties, ...(required ? { required } : {}) });
export const unix = (description: string): SchemaObject => nullable(int(`${description} (unix seconds)`));

/** How request validators become OpenAPI schemas; the docs test converts them the same way. */
export const ZOD_TO_OPENAPI = { target: 'openapi-3.0', io: 'input' } as const;

/**
 * The OpenAPI schema of a request body's zod validator, so the document says exactly what is
 * accepted. A schema with a `.meta({ id })` comes back from zod as a reference into `definitions`;
 * the document takes it inline. zod leaves out the examples of a schema that transforms a value
 * (they might describe its output); a request's examples are inputs, so they are kept.
 */
export function openApiSchemaOf(validator: z.ZodType): SchemaObject {
  const { $ref, definitions, ...schema } = z.toJSONSchema(validator, ZOD_TO_OPENAPI) as Record<string, unknown> & { $ref?: string; definitions?: Record<string, SchemaObject> };
  const examples = validator.meta()?.examples as SchemaObject['examples'];
  const withExamples = (found: SchemaObject): SchemaObject => (examples === undefined || 'examples' in found ? found : { ...found, examples });
  if ($ref === undefined) return withExamples(schema as SchemaObject);
  const resolved = definitions?.[$ref.replace('#/definitions/', '')];
  if (resolved === undefined) throw new Error(`zod gave ${$ref}, which its definitions lack`);
  return withExamples(resolved);
}
