--[[
  Removes a job (a submission undone while enqueueing, a deleted or expired job) and takes its state,
  its backlog share and its admission slot out of the stats.

  Input:
    KEYS[1] job hash
    KEYS[2] set of finished shard indexes
    KEYS[3] the tenant's job list (sorted set)
    KEYS[4] stats hash
    KEYS[5] expiry set

    ARGV[1] job id

  Output:
    1
]]
local f = redis.call('HMGET', KEYS[1], 'acct', 'state', 'blTexts', 'blTokens', 'tenant', 'admitted')
-- Records written before the accounting existed (no acct) were never counted.
if f[1] == '1' then
  local tenant = f[5] or 'default'
  if f[2] then redis.call('HINCRBY', KEYS[4], 'jobs:' .. f[2], -1) end
  local texts = tonumber(f[3]) or 0
  local tokens = tonumber(f[4]) or 0
  if texts ~= 0 then
    redis.call('HINCRBY', KEYS[4], 'backlog:texts', -texts)
    redis.call('HINCRBY', KEYS[4], 'backlog:texts:' .. tenant, -texts)
  end
  if tokens ~= 0 then redis.call('HINCRBY', KEYS[4], 'backlog:tokens', -tokens) end
  if f[6] == '1' and (f[2] == 'queued' or f[2] == 'running') then redis.call('HINCRBY', KEYS[4], 'active:' .. tenant, -1) end
end
redis.call('UNLINK', KEYS[1], KEYS[2])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
return 1
