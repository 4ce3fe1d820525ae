--[[
  Adds a counted shard's usage to the day's ledger (usage/usage-ledger.ts reads it): one hash per UTC
  day, fields `texts|<tenant>|<model>` and `tokens|<tenant>|<model>`, so it holds at most
  tenants x models x 2 fields. Called only for a shard counted for the first time, in the same script,
  so a retried shard is never billed twice.

  Input:
    jobKey, usageKey
    texts, tokens  the shard's succeeded texts and their tokens
    ttl            seconds the day's hash is kept after its last update (0: forever)
]]
local function countUsage(jobKey, usageKey, texts, tokens, ttl)
  local t = redis.call('HMGET', jobKey, 'tenant', 'modelId')
  local who = (t[1] or 'default') .. '|' .. (t[2] or '')
  redis.call('HINCRBY', usageKey, 'texts|' .. who, texts)
  redis.call('HINCRBY', usageKey, 'tokens|' .. who, tokens)
  redis.call('HINCRBY', jobKey, 'usageTokens', tokens)
  if tonumber(ttl) > 0 then redis.call('EXPIRE', usageKey, ttl) end
end
