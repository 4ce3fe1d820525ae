--[[
  queued -> running, on the first shard a worker starts.

  Input:
    KEYS[1] job hash
    KEYS[2] stats hash

    ARGV[1] now (ms)

  Output:
    the job's state after the call; '' for an unknown job
]]
--- @include "includes/accountJob"

local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'running', 'startedAt', ARGV[1])
  accountJob(KEYS[1], KEYS[2], state)
  return 'running'
end
return state or ''
