--[[
  Queue-wide accounting (jobs per state, backlog texts and tokens) in the stats hash, for jobs created
  with an estimate (field acct = 1; records written before the accounting existed are left out, never
  decremented).

  Each such job holds its current share of the backlog in blTexts / blTokens; after any change this
  recomputes the share and moves the stats hash by the difference, so the totals are always the sum of
  the shares of queued and running jobs, and a job that ends (completed, failed, cancelled) leaves
  nothing behind. Tokens: estTokens (ingest estimate, see ops/token-estimate.ts) minus the estimate of
  the shards already finished (estDone), scaled by real/estimated tokens of the job's completed shards
  (calReal / calEst) once it has some.

  Input:
    jobKey    the job hash
    statsKey  the stats hash
    before    the job's state before the calling script ran (nil: the job is new)
]]
local function accountJob(jobKey, statsKey, before)
  if redis.call('HGET', jobKey, 'acct') ~= '1' then return end
  local f = redis.call('HMGET', jobKey, 'state', 'total', 'succeeded', 'failed', 'estTokens', 'estDone', 'calEst', 'calReal', 'blTexts', 'blTokens', 'tenant', 'admitted')
  local state = f[1]
  if not state then return end
  local tenant = f[11] or 'default'
  if before and before ~= state then
    redis.call('HINCRBY', statsKey, 'jobs:' .. before, -1)
    redis.call('HINCRBY', statsKey, 'jobs:' .. state, 1)
    -- Admission (checkBudgets.lua): an admitted job holds one of its tenant's unfinished-job slots until it ends.
    if f[12] == '1' and (before == 'queued' or before == 'running') and state ~= 'queued' and state ~= 'running' then
      redis.call('HINCRBY', statsKey, 'active:' .. tenant, -1)
    end
  end
  local texts, tokens = 0, 0
  if state == 'queued' or state == 'running' then
    texts = math.max(0, (tonumber(f[2]) or 0) - (tonumber(f[3]) or 0) - (tonumber(f[4]) or 0))
    local raw = math.max(0, (tonumber(f[5]) or 0) - (tonumber(f[6]) or 0))
    local calEst = tonumber(f[7]) or 0
    if calEst > 0 then raw = raw * (tonumber(f[8]) or 0) / calEst end
    if texts > 0 then tokens = math.floor(raw + 0.5) end
  end
  local dTexts = texts - (tonumber(f[9]) or 0)
  local dTokens = tokens - (tonumber(f[10]) or 0)
  if dTexts ~= 0 then
    redis.call('HINCRBY', statsKey, 'backlog:texts', dTexts)
    -- Per tenant too: the tenant's admission budget (checkBudgets.lua).
    redis.call('HINCRBY', statsKey, 'backlog:texts:' .. tenant, dTexts)
  end
  if dTokens ~= 0 then redis.call('HINCRBY', statsKey, 'backlog:tokens', dTokens) end
  redis.call('HSET', jobKey, 'blTexts', texts, 'blTokens', tokens)
end
