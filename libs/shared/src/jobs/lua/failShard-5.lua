--[[
  Counts a shard that ran out of attempts: all its texts fail. Counted once, as in completeShard.

  Input:
    KEYS[1] job hash
    KEYS[2] set of finished shard indexes
    KEYS[3] stats hash
    KEYS[4] webhook outbox
    KEYS[5] expiry set

    ARGV[1] shard index
    ARGV[2] the shard's text count
    ARGV[3] reason (the job's `error`)
    ARGV[4] now (ms)
    ARGV[5] the shard's ingest estimate of its tokens (0: none)
    ARGV[6] job id

  Output:
    -1 - unknown job
     0 - shard already counted
     1 - counted
     2 - counted, and the job finished
]]
--- @include "includes/finishIfLastShard"

if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
local before = redis.call('HGET', KEYS[1], 'state')
local est = tonumber(ARGV[5])
if est > 0 then redis.call('HINCRBY', KEYS[1], 'estDone', est) end
redis.call('HINCRBY', KEYS[1], 'failed', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'shardsDone', 1)
redis.call('HINCRBY', KEYS[1], 'shardsFailed', 1)
redis.call('HSET', KEYS[1], 'error', ARGV[3])
return finishIfLastShard(KEYS[1], KEYS[3], KEYS[4], KEYS[5], ARGV[6], ARGV[4], before)
