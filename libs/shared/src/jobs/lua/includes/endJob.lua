--[[
  What every job that becomes terminal (completed, failed, cancelled) gets in the same atomic step:

  - the webhook outbox: a job with a callbackUrl enters it, so a process that dies before queueing the
    delivery cannot lose it;
  - retention: a job with `expiresAfter` (seconds) gets `expiresAt` (ms) and enters the expiry sorted
    set the janitor reads.

  Input:
    jobKey     the job hash
    outboxKey  the webhook outbox (sorted set of job ids by time)
    expiryKey  the expiry sorted set
    jobId      the job's id
    now        ms
]]
local function endJob(jobKey, outboxKey, expiryKey, jobId, now)
  if redis.call('HEXISTS', jobKey, 'callbackUrl') == 1 then redis.call('ZADD', outboxKey, now, jobId) end
  local after = tonumber(redis.call('HGET', jobKey, 'expiresAfter'))
  if after then
    local at = tonumber(now) + after * 1000
    redis.call('HSET', jobKey, 'expiresAt', at)
    redis.call('ZADD', expiryKey, at, jobId)
  end
end
