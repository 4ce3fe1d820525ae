--[[
  Creates a job record admitted against the budgets, atomically with the checks (checkBudgets.lua), so
  concurrent submissions on any number of API replicas cannot overshoot. Nothing is written unless the
  verdict is OK. The job is counted in the stats (accountJob.lua) from now until it ends.

  Input:
    KEYS[1] job hash
    KEYS[2] the tenant's job list (sorted set)
    KEYS[3] stats hash

    ARGV[1] job id
    ARGV[2] tenant
    ARGV[3] createdAt (ms)
    ARGV[4] state
    ARGV[5] the ingest estimate of the job's tokens
    ARGV[6] maxActiveJobs (0: no limit)
    ARGV[7] maxQueuedTexts (0: no limit)
    ARGV[8] maxTenantQueuedTexts (0: no limit)
    ARGV[9] texts
    ARGV[10..] the record's hash as field, value pairs

  Output:
    {verdict, scope, queued, budget}, see checkBudgets.lua
]]
--- @include "includes/accountJob"
--- @include "includes/checkBudgets"

local verdict = checkBudgets(KEYS[3], ARGV[2], tonumber(ARGV[9]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]))
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
accountJob(KEYS[1], KEYS[3], nil)
return verdict
