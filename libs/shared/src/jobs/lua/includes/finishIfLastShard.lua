--[[
  After a shard was counted: a queued or running job whose shards are all done becomes completed
  (failed when no text succeeded and some failed), and ends (endJob.lua). Accounts the change either way.

  Input:
    jobKey, statsKey, outboxKey, expiryKey, jobId
    now     ms
    before  the job's state before the calling script ran

  Output:
    2 - the job finished
    1 - the job goes on
]]
--- @include "accountJob"
--- @include "endJob"

local function finishIfLastShard(jobKey, statsKey, outboxKey, expiryKey, jobId, now, before)
  local f = redis.call('HMGET', jobKey, 'shardsDone', 'shardsTotal', 'state', 'succeeded', 'failed')
  local state = f[3]
  if tonumber(f[1]) >= tonumber(f[2]) and (state == 'queued' or state == 'running') then
    local final = 'completed'
    if tonumber(f[4]) == 0 and tonumber(f[5]) > 0 then final = 'failed' end
    redis.call('HSET', jobKey, 'state', final, 'finishedAt', now)
    if redis.call('HEXISTS', jobKey, 'startedAt') == 0 then redis.call('HSET', jobKey, 'startedAt', now) end
    accountJob(jobKey, statsKey, before)
    endJob(jobKey, outboxKey, expiryKey, jobId, now)
    return 2
  end
  accountJob(jobKey, statsKey, before)
  return 1
end
