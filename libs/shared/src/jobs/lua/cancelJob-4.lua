--[[
  Cancels a queued or running job; its unfinished remainder leaves the backlog. Other states do not change.

  Input:
    KEYS[1] job hash
    KEYS[2] stats hash
    KEYS[3] webhook outbox
    KEYS[4] expiry set

    ARGV[1] now (ms)
    ARGV[2] job id

  Output:
    the job's state before the call; '' for an unknown job
]]
--- @include "includes/accountJob"
--- @include "includes/endJob"

local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finishedAt', ARGV[1])
  accountJob(KEYS[1], KEYS[2], state)
  endJob(KEYS[1], KEYS[3], KEYS[4], ARGV[2], ARGV[1])
end
return state or ''
