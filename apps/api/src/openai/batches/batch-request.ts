import { z } from 'zod';
import { ENDPOINTS, type OpenAIEndpoint } from '../inference/openai-request.js';
import { OpenAIError } from '../openai-error.js';

const MAX_METADATA_PAIRS = 16;

/** The body of POST /v1/batches: validates it, and documents it in the OpenAPI document. */
export const batchRequestSchema = z
  .strictObject({
    input_file_id: z.string().min(1).meta({ description: 'a file uploaded with purpose "batch"' }),
    endpoint: z.enum(Object.keys(ENDPOINTS) as [OpenAIEndpoint, ...OpenAIEndpoint[]]),
    completion_window: z.literal('24h'),
    metadata: z
      .record(z.string().max(64), z.string().max(512))
      .refine((pairs) => Object.keys(pairs).length <= MAX_METADATA_PAIRS)
      .nullish()
      .meta({ description: "OpenAI's rules: up to 16 pairs, keys of at most 64 characters, string values of at most 512", maxProperties: MAX_METADATA_PAIRS }),
    output_expires_after: z
      .strictObject({ anchor: z.literal('created_at'), seconds: z.int().min(1) })
      .nullish()
      .meta({ description: 'retention of the output and error files, in seconds from their creation' }),
  })
  .meta({
    id: 'BatchRequest',
    description: 'A batch over a JSONL file of requests to one endpoint',
    examples: [{ input_file_id: 'file-abc123', endpoint: '/v1/embeddings', completion_window: '24h', metadata: { project: 'search' } }],
  });

export interface CreateRequest {
  inputFileId: string;
  endpoint: OpenAIEndpoint;
  metadata: Record<string, string> | null;
  /** OpenAI's `output_expires_after.seconds` (anchor created_at): retention of the output and error files. */
  outputExpiresAfter: number | null;
}

type BatchRequest = z.infer<typeof batchRequestSchema>;

/**
 * Each field's refusal, in the order fields are checked (the first refused field is reported): the
 * schema decides what is valid, this table says what is wrong.
 */
const FIELD_PROBLEMS: ReadonlyArray<readonly [keyof BatchRequest, (value: unknown) => OpenAIError]> = [
  ['input_file_id', () => new OpenAIError(400, '"input_file_id" is required', 'input_file_id', 'invalid_input')],
  [
    'endpoint',
    (value) => new OpenAIError(400, `"endpoint" must be "/v1/embeddings" or "/v1/classifications", got ${JSON.stringify(value ?? null)}`, 'endpoint', 'invalid_endpoint'),
  ],
  ['completion_window', () => new OpenAIError(400, '"completion_window" must be "24h"', 'completion_window', 'invalid_input')],
  ['metadata', metadataProblem],
  [
    'output_expires_after',
    () =>
      new OpenAIError(
        400,
        '"output_expires_after" must be {"anchor": "created_at", "seconds": n} with n a whole number of seconds, at least 1',
        'output_expires_after',
        'invalid_expires_after',
      ),
  ],
];

function metadataProblem(value: unknown): OpenAIError {
  const fail = (message: string) => new OpenAIError(400, `"metadata" ${message}`, 'metadata', 'invalid_metadata');
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return fail('must be an object of string values');
  const entries = Object.entries(value as Record<string, unknown>);
  if (entries.length > MAX_METADATA_PAIRS) return fail(`may hold at most ${MAX_METADATA_PAIRS} pairs`);
  const [key] = entries.find(([k, v]) => k.length > 64 || typeof v !== 'string' || v.length > 512) ?? [''];
  if (key.length > 64) return fail(`keys may be at most 64 characters (${JSON.stringify(key.slice(0, 70))}…)`);
  return fail(`values must be strings of at most 512 characters (key ${JSON.stringify(key)})`);
}

export function parseCreateBody(body: unknown): CreateRequest {
  if (body === undefined) throw new OpenAIError(400, 'send a JSON body (Content-Type: application/json)', null, 'invalid_json');
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new OpenAIError(400, 'the body must be a JSON object', null, 'invalid_input');
  const parsed = batchRequestSchema.safeParse(body);
  if (!parsed.success) {
    const extra = parsed.error.issues.find((issue) => issue.code === 'unrecognized_keys' && issue.path.length === 0);
    const unknown = extra?.code === 'unrecognized_keys' ? extra.keys[0] : undefined;
    if (unknown !== undefined) throw new OpenAIError(400, `Unrecognized request argument supplied: ${unknown}`, unknown, 'unknown_parameter');
    const refused = new Set(parsed.error.issues.map((issue) => issue.path[0]));
    const [field, problem] = FIELD_PROBLEMS.find(([name]) => refused.has(name)) ?? [];
    if (field === undefined || problem === undefined) throw new OpenAIError(400, parsed.error.issues[0]?.message ?? 'invalid body', null, 'invalid_input');
    throw problem((body as Record<string, unknown>)[field]);
  }
  // The body's own values: a parsed record would drop a "__proto__" metadata key.
  const fields = body as BatchRequest;
  return {
    inputFileId: fields.input_file_id,
    endpoint: fields.endpoint,
    metadata: fields.metadata ?? null,
    outputExpiresAfter: fields.output_expires_after?.seconds ?? null,
  };
}
