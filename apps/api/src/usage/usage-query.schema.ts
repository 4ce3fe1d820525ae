import { z } from 'zod';

/** The longest span one GET /v1/usage reads: one Redis hash per day, in one round trip. */
export const MAX_USAGE_DAYS = 366;
/** Without `from`: this many days up to `to`. */
export const DEFAULT_USAGE_DAYS = 30;

const DAY_MS = 86_400_000;
const isoDay = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, 'a UTC date as YYYY-MM-DD')
  .refine((value) => !Number.isNaN(Date.parse(`${value}T00:00:00Z`)) && new Date(`${value}T00:00:00Z`).toISOString().startsWith(value), 'not a calendar date');

/** Query parameters of GET /v1/usage; the same schema is the route's OpenAPI description. */
export const usageQuerySchema = z
  .object({
    from: isoDay.optional().meta({ description: `First day, UTC, included. Default: ${DEFAULT_USAGE_DAYS - 1} days before \`to\`` }),
    to: isoDay.optional().meta({ description: 'Last day, UTC, included. Default: today (UTC)' }),
    model: z.string().min(1).max(512).optional().meta({ description: 'Only this model (the id as jobs report it)' }),
    tenant: z
      .string()
      .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a tenant name')
      .optional()
      .meta({ description: 'Only this tenant. Keys of an ADMIN_TENANTS tenant may name any; other keys only their own (another is 403 FORBIDDEN)' }),
  })
  .strict();

export type UsageQueryParams = z.infer<typeof usageQuerySchema>;

/** The validated query with its defaults: `to` today, `from` DEFAULT_USAGE_DAYS - 1 before it. */
export function resolveUsageRange(params: UsageQueryParams, now: number): { from: string; to: string } | { problem: string; field: string } {
  const to = params.to ?? new Date(now).toISOString().slice(0, 10);
  const toMs = Date.parse(`${to}T00:00:00Z`);
  const from = params.from ?? new Date(toMs - (DEFAULT_USAGE_DAYS - 1) * DAY_MS).toISOString().slice(0, 10);
  const days = (toMs - Date.parse(`${from}T00:00:00Z`)) / DAY_MS + 1;
  if (days < 1) return { problem: `"from" (${from}) is after "to" (${to})`, field: 'from' };
  if (days > MAX_USAGE_DAYS) return { problem: `from ${from} to ${to} is ${days} days; ask for at most ${MAX_USAGE_DAYS} at a time`, field: 'from' };
  return { from, to };
}
