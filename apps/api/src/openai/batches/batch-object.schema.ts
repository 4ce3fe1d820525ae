import type { SchemaObject } from '@nestjs/swagger';
import { int, nullable, obj, str, unix } from '../../docs/schema-builders.js';

const requestCounts = obj({ total: int(), completed: int(), failed: int() });
const usage = obj(
  {
    input_tokens: int("tokens of the requests' texts that succeeded, as the model ran them (after truncation)"),
    input_tokens_details: obj({ cached_tokens: int('always 0') }),
    output_tokens: int('always 0: encoders generate no tokens'),
    output_tokens_details: obj({ reasoning_tokens: int('always 0') }),
    total_tokens: int('input_tokens + output_tokens'),
  },
  ['input_tokens', 'input_tokens_details', 'output_tokens', 'output_tokens_details', 'total_tokens'],
);

/** A BatchObject (batch-object.ts), for the OpenAPI document. */
export const batchObjectSchema: SchemaObject = obj({
  id: str(undefined, { example: 'batch_abc123' }),
  object: str(undefined, { enum: ['batch'] }),
  endpoint: str(undefined, { enum: ['/v1/embeddings', '/v1/classifications'] }),
  model: nullable(str('the model of every request')),
  errors: nullable(obj({ object: str(), data: { type: 'array', items: obj({ code: str(), message: str(), param: nullable(str()), line: nullable(int()) }) } })),
  input_file_id: str(),
  completion_window: str(undefined, { enum: ['24h'] }),
  status: str(undefined, { enum: ['validating', 'failed', 'in_progress', 'finalizing', 'completed', 'expired', 'cancelling', 'cancelled'] }),
  output_file_id: nullable(str()),
  error_file_id: nullable(str()),
  created_at: int('unix seconds'),
  in_progress_at: unix('validated, job enqueued'),
  expires_at: int('unix seconds'),
  finalizing_at: unix('job finished'),
  completed_at: unix('output files written'),
  failed_at: unix('validation failed'),
  expired_at: unix('expired'),
  cancelling_at: unix('cancel requested'),
  cancelled_at: unix('cancelled'),
  request_counts: requestCounts,
  usage,
  metadata: nullable({ type: 'object', additionalProperties: { type: 'string' } }),
  job_id: nullable(str('shardwise extension: the job that runs the batch (GET /v1/jobs/{id})')),
});
