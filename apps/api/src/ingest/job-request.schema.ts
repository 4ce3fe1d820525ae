import type { SchemaObject } from '@nestjs/swagger';
import { z } from 'zod';
import { MAX_EXPIRES_AFTER } from './job-params.js';

const CORPUS_DESCRIPTION = 'The corpus is named by exactly one of inputs, input_file_id or input_object (400 INVALID_INPUT otherwise).';

const inputItemSchema = z.union([z.string(), z.looseObject({ id: z.union([z.string(), z.number()]).optional(), text: z.string() })]);

/**
 * The application/json body of POST /v1/jobs, as the OpenAPI document describes it. Fields are
 * checked in the order and words of paramsFromBody (job-params.ts) and, for the corpus, by the
 * ingest as it reads it; test/api/openapi-spec.test.ts holds this schema and those checks to the
 * same verdicts.
 */
export const jobRequestSchema = z
  .looseObject({
    task: z.string().meta({ description: 'embed (embedding, feature-extraction) or sentiment (classify, text-classification, sentiment-analysis)' }),
    model: z.string().nullish().meta({ description: 'model id or registry name; the task default when absent' }),
    options: z
      .strictObject({
        pooling: z.enum(['mean', 'cls']).nullish().meta({ description: 'embed only; mean when absent' }),
        normalize: z.boolean().optional().meta({ description: 'embed only; true when absent' }),
        top_k: z.int().min(1).nullish().meta({ description: 'sentiment only; labels kept in scores, null for all' }),
        truncate: z.boolean().optional().meta({ description: 'false fails over-long texts instead of truncating them; true when absent' }),
      })
      .nullish(),
    metadata: z.record(z.string(), z.unknown()).nullish().meta({ description: 'any JSON object of at most 16 KiB, returned with the job' }),
    callback_url: z.string().nullish().meta({ description: 'http(s) URL called once when the job ends (webhook)' }),
    expires_after: z.int().min(1).max(MAX_EXPIRES_AFTER).nullish().meta({ description: 'seconds the job and its results are kept once it ends; RETENTION_SECONDS when absent' }),
    inputs: z.array(inputItemSchema).optional().meta({ description: 'the texts, each a string or {"id"?, "text"}' }),
    input_file_id: z.string().optional().meta({
      description:
        'a file uploaded through POST /v1/files (purpose user_data or batch) of this tenant, read as NDJSON {"id"?, "text"} lines; nothing is copied. 404 INPUT_NOT_FOUND when there is none',
      example: 'file-abc123',
    }),
    input_object: z.string().optional().meta({
      description:
        'the path of an object the operator put in the store (RESULTS_DIR), read as NDJSON {"id"?, "text"} lines; nothing is copied. Paths under jobs/ and files/ are refused (400 INVALID_INPUT); 404 INPUT_NOT_FOUND when there is no such object',
      example: 'corpora/2026/docs.jsonl',
    }),
  })
  .refine((body) => ['inputs', 'input_file_id', 'input_object'].filter((field) => body[field as keyof typeof body] !== undefined).length === 1, CORPUS_DESCRIPTION)
  .meta({
    id: 'JobRequest',
    description: CORPUS_DESCRIPTION,
    oneOf: [{ required: ['inputs'] }, { required: ['input_file_id'] }, { required: ['input_object'] }],
    examples: [
      { task: 'embed', inputs: ['first text', { id: 'doc-2', text: 'second text' }], options: { pooling: 'mean' } },
      { task: 'sentiment', input_object: 'corpora/2026/docs.jsonl', options: { top_k: 2 }, metadata: { project: 'reviews' } },
    ],
  });

/** The NDJSON body of POST /v1/jobs, for large uploads. */
export const ndjsonBodySchema: SchemaObject = {
  type: 'string',
  description: 'one {"id"?, "text"} object (or a bare JSON string) per line; task, model and options in the query string',
};
