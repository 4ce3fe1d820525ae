export type BodyKind = 'json' | 'ndjson';

const NDJSON_TYPES = new Set(['application/x-ndjson', 'application/jsonl', 'application/ndjson']);

/** Which parser a POST /v1/jobs body goes to, from its Content-Type (parameters such as charset ignored). */
export function bodyKind(contentType: string | undefined): BodyKind | null {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/json') return 'json';
  if (NDJSON_TYPES.has(type)) return 'ndjson';
  return null;
}
