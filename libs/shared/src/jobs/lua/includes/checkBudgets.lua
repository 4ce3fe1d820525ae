--[[
  Admission control, by work, in the stats hash kept by accountJob.lua:

  - `active:<tenant>`: the tenant's unfinished (queued or running) jobs. createJob adds one and marks
    the job `admitted`; accountJob takes it off when the job ends (completed, failed, cancelled) and
    deleteJob when a submission is undone. Checked against MAX_CONCURRENT_JOBS / max_concurrent_jobs.
  - `backlog:texts` and `backlog:texts:<tenant>`: texts of unfinished jobs not yet done, all tenants and
    per tenant. A job of n texts is admitted while backlog + n stays within the budget
    (ADMISSION_MAX_QUEUED_TEXTS, TENANT_MAX_QUEUED_TEXTS / max_queued_texts), or when that backlog is
    empty: a job larger than a budget runs on an idle system instead of being refused for its size,
    so a refusal (429) always means that retrying once the backlog has drained succeeds.

  Input:
    statsKey, tenant, texts (the job's size)
    maxActive, maxQueued, maxTenantQueued  the budgets, 0 = no limit

  Output:
    {verdict, scope, queued, budget}: verdict OK, TOO_MANY_JOBS or BACKLOG_FULL; for BACKLOG_FULL,
    scope `global` or `tenant` and that budget's backlog, from which the API estimates Retry-After.
]]
local function checkBudgets(statsKey, tenant, texts, maxActive, maxQueued, maxTenantQueued)
  if maxActive > 0 and (tonumber(redis.call('HGET', statsKey, 'active:' .. tenant)) or 0) >= maxActive then return {'TOO_MANY_JOBS', '', 0, maxActive} end
  if maxQueued > 0 then
    local queued = tonumber(redis.call('HGET', statsKey, 'backlog:texts')) or 0
    if queued > 0 and queued + texts > maxQueued then return {'BACKLOG_FULL', 'global', queued, maxQueued} end
  end
  if maxTenantQueued > 0 then
    local queued = tonumber(redis.call('HGET', statsKey, 'backlog:texts:' .. tenant)) or 0
    if queued > 0 and queued + texts > maxTenantQueued then return {'BACKLOG_FULL', 'tenant', queued, maxTenantQueued} end
  end
  return {'OK', '', 0, 0}
end
