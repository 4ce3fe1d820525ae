import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openApiSchemaOf } from '../../apps/api/src/docs/schema-builders.js';
import { paramsFromBody, paramsFromQuery } from '../../apps/api/src/ingest/job-params.js';
import { JOB_PARAMS_SCHEMAS, jobQuerySchema, jobQuerySchemaFor, jobRequestSchema } from '../../apps/api/src/ingest/job-request.schema.js';
import { batchRequestSchema, parseCreateBody } from '../../apps/api/src/openai/batches/batch-request.js';
import { classificationsRequestSchema, embeddingsRequestSchema, parseInferenceBody } from '../../apps/api/src/openai/inference/openai-request.js';
import type { AppProcess } from '../support/app-process.js';
import { Stack } from '../support/stack.js';

type Json = Record<string, any>;

/** A JSON job body through the API's own checks of its parameters (the corpus is checked as it is read). */
function acceptsJob(body: unknown): boolean {
  const { inputs: _inputs, input_file_id: _file, input_object: _object, ...rest } = body as Record<string, unknown>;
  try {
    paramsFromBody(rest);
    return true;
  } catch {
    return false;
  }
}

const accepts = (fn: () => unknown): boolean => {
  try {
    fn();
    return true;
  } catch {
    return false;
  }
};

/** Every route with a JSON request body: its validator, and the API's verdict on a body. */
const ROUTES: Array<{ path: string; validator: z.ZodType; accepted: (body: unknown) => boolean; schemaIn: (body: Json) => Json }> = [
  { path: '/v1/jobs', validator: jobRequestSchema, accepted: (b) => jobRequestSchema.safeParse(b).success && acceptsJob(b), schemaIn: (s) => s.oneOf[0] },
  { path: '/v1/batches', validator: batchRequestSchema, accepted: (b) => accepts(() => parseCreateBody(b)), schemaIn: (s) => s },
  { path: '/v1/embeddings', validator: embeddingsRequestSchema, accepted: (b) => accepts(() => parseInferenceBody('/v1/embeddings', b)), schemaIn: (s) => s },
  { path: '/v1/classifications', validator: classificationsRequestSchema, accepted: (b) => accepts(() => parseInferenceBody('/v1/classifications', b)), schemaIn: (s) => s },
];

describe('the OpenAPI document and the request validators agree', () => {
  let stack: Stack;
  let api: AppProcess;
  let spec: Json;

  beforeAll(async () => {
    stack = await Stack.start();
    api = await stack.startApi();
    spec = (await (await fetch(`${api.baseUrl}/docs/openapi.json`)).json()) as Json;
  });

  afterAll(async () => {
    await stack?.stop();
  });

  for (const route of ROUTES) {
    it(`POST ${route.path}: the served request schema is the validator's, and its examples pass it`, () => {
      const served = route.schemaIn(spec.paths[route.path].post.requestBody.content['application/json'].schema);
      expect(served).toEqual(openApiSchemaOf(route.validator));
      const examples = served.examples as unknown[];
      expect(examples.length).toBeGreaterThan(0);
      for (const example of examples) {
        expect(route.validator.safeParse(example).success, JSON.stringify(example)).toBe(true);
        expect(route.accepted(example), JSON.stringify(example)).toBe(true);
        // The same example spoiled: a required field gone, or one of the wrong type.
        for (const field of served.required as string[]) {
          const { [field]: _dropped, ...without } = example as Json;
          expect(route.validator.safeParse(without).success, `${route.path} without ${field}`).toBe(false);
          expect(route.accepted(without), `${route.path} without ${field}`).toBe(false);
          const wrong = { ...(example as Json), [field]: 12 };
          expect(route.validator.safeParse(wrong).success, `${route.path} ${field}: 12`).toBe(false);
          expect(route.accepted(wrong), `${route.path} ${field}: 12`).toBe(false);
        }
      }
    });
  }

  it('POST /v1/jobs: paramsFromBody validates with the served fields, refusing the options of the other task', () => {
    const served = jobRequestSchema.shape;
    const optionsOf = (schema: z.ZodType) => ((schema as z.ZodOptional<z.ZodNullable<z.ZodObject>>).unwrap().unwrap() as z.ZodObject).shape;
    const servedOptions = optionsOf(served.options);
    for (const task of ['embed', 'sentiment'] as const) {
      const validator = JOB_PARAMS_SCHEMAS[task].shape;
      expect(Object.keys(validator)).toEqual(['task', 'model', 'options', 'metadata', 'callback_url', 'expires_after', 'dedup']);
      for (const name of ['task', 'model', 'metadata', 'callback_url', 'expires_after', 'dedup'] as const) expect(validator[name], `${task}: ${name}`).toBe(served[name]);
      const options = optionsOf(validator.options);
      expect(Object.keys(options)).toEqual(Object.keys(servedOptions));
      for (const [name, schema] of Object.entries(options)) {
        if (schema === servedOptions[name]) continue;
        // Another task's option: absent only.
        expect(schema.safeParse(undefined).success, `${task}: ${name}`).toBe(true);
        for (const value of [null, 'mean', true, 1]) expect(schema.safeParse(value).success, `${task}: ${name} ${value}`).toBe(false);
      }
    }
  });

  it('POST /v1/jobs: the schema and the API give the same verdict on each parameter', () => {
    const base = { task: 'embed', inputs: ['x'] };
    const bodies: Json[] = [
      base,
      { ...base, model: null },
      { ...base, model: 3 },
      { ...base, options: null },
      { ...base, options: { pooling: 'cls', normalize: false, truncate: true } },
      { ...base, options: { pooling: 'max' } },
      { ...base, options: { normalize: 'yes' } },
      { ...base, options: { unknown: 1 } },
      { ...base, options: [] },
      { task: 'sentiment', inputs: ['x'], options: { top_k: 2 } },
      { task: 'sentiment', inputs: ['x'], options: { top_k: 0 } },
      { task: 'sentiment', inputs: ['x'], options: { top_k: null } },
      { ...base, metadata: { a: [1, { b: null }] } },
      { ...base, metadata: [] },
      { ...base, metadata: 'x' },
      { ...base, callback_url: 'https://example.com/hook' },
      { ...base, callback_url: 5 },
      { ...base, expires_after: 3600 },
      { ...base, expires_after: 0 },
      { ...base, expires_after: 1.5 },
      { ...base, expires_after: '3600' },
      { ...base, dedup: false },
      { ...base, dedup: null },
      { ...base, dedup: 'false' },
    ];
    for (const body of bodies) expect(jobRequestSchema.safeParse(body).success, JSON.stringify(body)).toBe(acceptsJob(body));
    // Exactly one corpus field.
    expect(jobRequestSchema.safeParse({ task: 'embed' }).success).toBe(false);
    expect(jobRequestSchema.safeParse({ ...base, input_object: 'a.jsonl' }).success).toBe(false);
    expect(jobRequestSchema.safeParse({ task: 'embed', input_file_id: 'file-1' }).success).toBe(true);
  });

  it('POST /v1/jobs: the served query parameters are jobQuerySchema, which paramsFromQuery validates with', () => {
    const served = (spec.paths['/v1/jobs'].post.parameters as Json[]).filter((parameter) => parameter.in === 'query');
    const properties = openApiSchemaOf(jobQuerySchema).properties as Record<string, Json>;
    expect(served.map((parameter) => parameter.name)).toEqual(Object.keys(properties));
    for (const parameter of served) {
      const { description, ...schema } = properties[parameter.name] as Json;
      expect(parameter.schema, parameter.name).toEqual(schema);
      expect(parameter.description).toBe(`NDJSON bodies only: ${description}`);
    }
    const queries: Json[] = [
      { task: 'embed' },
      { task: 'embed', pooling: 'cls', normalize: 'false', truncate: 'true', metadata: '{"a":1}', expires_after: '60' },
      { task: 'embed', normalize: 'yes' },
      { task: 'embed', top_k: '2' },
      { task: 'sentiment', top_k: 'null' },
      { task: 'sentiment', top_k: '0' },
      { task: 'sentiment', pooling: 'mean' },
      { task: 'sentiment', metadata: '[1]' },
      { task: 'sentiment', metadata: '{oops' },
      { task: 'embed', model: ['a', 'b'] },
      { task: 'embed', expires_after: '1.5' },
      { task: 'embed', dedup: 'false' },
      { task: 'embed', dedup: 'no' },
      { task: 'embed', dedup: ['true', 'false'] },
      { task: 'translate' },
      {},
    ];
    for (const query of queries)
      expect(
        accepts(() => paramsFromQuery(query)),
        JSON.stringify(query),
      ).toBe(jobQuerySchemaFor(query.task).safeParse(query).success);
  });
});
