import { ACCOUNT } from './job-scripts.js';

/**
 * Admission control, by work, in the same stats hash as the queue-wide accounting (job-scripts.ts ACCOUNT):
 *
 * - `active:<tenant>`: the tenant's unfinished (queued or running) jobs. CREATE_JOB adds one and marks
 *   the job `admitted`; ACCOUNT takes it off when the job ends (completed, failed, cancelled) and
 *   DELETE_JOB when a submission is undone. Checked against MAX_CONCURRENT_JOBS / max_concurrent_jobs.
 * - `backlog:texts` and `backlog:texts:<tenant>`: texts of unfinished jobs not yet done, all tenants and
 *   per tenant. A job of n texts is admitted while backlog + n stays within the budget
 *   (ADMISSION_MAX_QUEUED_TEXTS, TENANT_MAX_QUEUED_TEXTS / max_queued_texts), or when that backlog is
 *   empty: a job larger than a budget runs on an idle system instead of being refused for its size,
 *   so a refusal (429) always means that retrying once the backlog has drained succeeds.
 *
 * Scripts answer `{verdict, scope, queued, budget}`: verdict OK, TOO_MANY_JOBS or BACKLOG_FULL; for
 * BACKLOG_FULL, scope `global` or `tenant` and that budget's backlog, from which the API estimates
 * Retry-After.
 */
const BUDGETS = `
local function sw_budgets(stats, tenant, texts, maxActive, maxQueued, maxTenantQueued)
  if maxActive > 0 and (tonumber(redis.call('HGET', stats, 'active:' .. tenant)) or 0) >= maxActive then return {'TOO_MANY_JOBS', '', 0, maxActive} end
  if maxQueued > 0 then
    local queued = tonumber(redis.call('HGET', stats, 'backlog:texts')) or 0
    if queued > 0 and queued + texts > maxQueued then return {'BACKLOG_FULL', 'global', queued, maxQueued} end
  end
  if maxTenantQueued > 0 then
    local queued = tonumber(redis.call('HGET', stats, 'backlog:texts:' .. tenant)) or 0
    if queued > 0 and queued + texts > maxTenantQueued then return {'BACKLOG_FULL', 'tenant', queued, maxTenantQueued} end
  end
  return {'OK', '', 0, 0}
end
`;

/**
 * KEYS: stats. ARGV: tenant, maxActiveJobs, maxQueuedTexts, maxTenantQueuedTexts (0 = no limit).
 * Checked before an upload is read, for a job of one text: refused only when not even that would fit.
 */
export const ADMISSION_CHECK = `
${BUDGETS}
return sw_budgets(KEYS[1], ARGV[1], 1, tonumber(ARGV[2]) or 0, tonumber(ARGV[3]) or 0, tonumber(ARGV[4]) or 0)
`;

/**
 * Creates a job record admitted against the budgets, atomically with the checks.
 * KEYS: job hash, tenant job list, stats.
 * ARGV: job id, tenant, createdAt, state, estTokens, maxActiveJobs, maxQueuedTexts, maxTenantQueuedTexts,
 * texts, then the record's hash as field, value pairs. Nothing is written unless the verdict is OK.
 */
export const CREATE_JOB = `
${ACCOUNT}
${BUDGETS}
local verdict = sw_budgets(KEYS[3], ARGV[2], tonumber(ARGV[9]) or 0, tonumber(ARGV[6]) or 0, tonumber(ARGV[7]) or 0, tonumber(ARGV[8]) or 0)
if verdict[1] ~= 'OK' then return verdict end
local fields = {}
for i = 10, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
local state = ARGV[4]
local active = state == 'queued' or state == 'running'
redis.call('HSET', KEYS[1], 'acct', '1', 'estTokens', ARGV[5], 'estDone', '0', 'blTexts', 0, 'blTokens', 0, 'admitted', active and '1' or '0')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'jobs:' .. state, 1)
if active then redis.call('HINCRBY', KEYS[3], 'active:' .. ARGV[2], 1) end
sw_account(KEYS[1], KEYS[3], nil)
return verdict
`;
