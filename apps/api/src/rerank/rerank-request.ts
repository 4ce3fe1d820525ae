import { z } from 'zod';
import { InputError, MAX_RERANK_DOCUMENTS } from '#shared';

/**
 * The body of POST /v1/rerank, as Hugging Face TEI's `/rerank` takes it (`query`, `texts`,
 * `raw_scores`, `return_text`, `truncate`), plus `model` (the job default for rerank when absent).
 */
export const rerankRequestSchema = z.strictObject({
  model: z.string().min(1).optional().meta({ description: 'a cross-encoder (one logit); DEFAULT_MODEL_RERANK when absent' }),
  query: z.string().meta({ description: 'the query every text is scored against' }),
  texts: z
    .array(z.string())
    .min(1)
    .max(MAX_RERANK_DOCUMENTS)
    .meta({ description: `the documents to rank, 1 to ${MAX_RERANK_DOCUMENTS}` }),
  raw_scores: z.boolean().optional().meta({ description: 'the raw logit instead of its sigmoid; false when absent' }),
  return_text: z.boolean().optional().meta({ description: 'each result carries its text; false when absent' }),
  truncate: z.boolean().optional().meta({ description: 'cut over-long pairs (longest_first) instead of refusing them; true when absent' }),
});

export type RerankRequest = z.infer<typeof rerankRequestSchema>;

/** The validated body, or INVALID_INPUT naming the first bad field (`texts[3]` for a bad document). */
export function parseRerankRequest(body: unknown): RerankRequest {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw new InputError('INVALID_INPUT', 'send a JSON object with "query" and "texts" (Content-Type: application/json)');
  }
  const parsed = rerankRequestSchema.safeParse(body);
  if (parsed.success) return parsed.data;
  const issue = parsed.error.issues[0];
  if (issue?.code === 'unrecognized_keys') {
    throw new InputError('INVALID_INPUT', `unknown field "${issue.keys[0]}"; /v1/rerank takes ${Object.keys(rerankRequestSchema.shape).join(', ')}`, { field: issue.keys[0] });
  }
  const path = issue?.path ?? [];
  const field = path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i > 0 ? '.' : ''}${String(part)}`)).join('');
  const problem = PROBLEMS[String(path[0])] ?? issue?.message ?? 'is invalid';
  const missing = issue?.code === 'invalid_type' && (body as Record<string, unknown>)[String(path[0])] === undefined;
  throw new InputError(missing ? 'MISSING_TEXT' : 'INVALID_INPUT', `field "${field}" ${missing ? 'is missing' : problem}`, { field });
}

const PROBLEMS: Record<string, string> = {
  model: 'must be a model id',
  query: 'must be a string',
  texts: `must be an array of 1 to ${MAX_RERANK_DOCUMENTS} strings`,
  raw_scores: 'must be true or false',
  return_text: 'must be true or false',
  truncate: 'must be true or false',
};
