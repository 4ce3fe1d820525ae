--[[
  Token bucket per tenant, in Redis so every API replica draws from the same bucket. The clock is
  Redis's (TIME), so replicas with skewed clocks still agree. A bucket left alone expires once it
  would be full again.

  Input:
    KEYS[1] the bucket (hash: tokens, ts)

    ARGV[1] rate (tokens per second)
    ARGV[2] burst (the bucket's size)
    ARGV[3] cost (tokens this request takes)

  Output:
    {allowed (0|1), milliseconds until `cost` tokens are there (0 when allowed)}
]]
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'ts')
local tokens = tonumber(state[1])
local ts = tonumber(state[2])
if tokens == nil or ts == nil then
  tokens = burst
  ts = now
end
tokens = math.min(burst, tokens + math.max(0, now - ts) * rate / 1000)
local allowed = 0
local wait = 0
if tokens >= cost then
  tokens = tokens - cost
  allowed = 1
else
  wait = math.ceil((cost - tokens) * 1000 / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'ts', tostring(now))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {allowed, wait}
