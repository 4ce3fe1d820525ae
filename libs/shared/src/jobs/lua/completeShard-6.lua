--[[
  Counts a shard that ran. Atomic, so two workers finishing the same shard (a retried shard whose first
  run was presumed dead) never count it twice: the shard index goes into a set first and only a new
  member moves the counters.

  Input:
    KEYS[1] job hash
    KEYS[2] set of finished shard indexes
    KEYS[3] stats hash
    KEYS[4] webhook outbox
    KEYS[5] expiry set
    KEYS[6] usage ledger of the day (a hash; see includes/countUsage)

    ARGV[1] shard index
    ARGV[2] succeeded
    ARGV[3] failed
    ARGV[4] truncated
    ARGV[5] tokens
    ARGV[6] now (ms)
    ARGV[7] the shard's ingest estimate of its tokens (0: none)
    ARGV[8] job id
    ARGV[9] items whose result was copied from an identical text's (dedup; absent from older workers: 0)
    ARGV[10] usage: succeeded texts (optional: without ARGV[10..12] no usage is recorded)
    ARGV[11] usage: tokens of the succeeded texts
    ARGV[12] usage: seconds the ledger of the day is kept (0: forever)

  Output:
    -1 - unknown job
     0 - shard already counted
     1 - counted
     2 - counted, and the job finished
]]
--- @include "includes/finishIfLastShard"
--- @include "includes/countUsage"

if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
local before = redis.call('HGET', KEYS[1], 'state')
local est = tonumber(ARGV[7])
if est > 0 then
  redis.call('HINCRBY', KEYS[1], 'estDone', est)
  -- Only shards that ran inference calibrate the estimate (a shard written as failed reports 0 tokens).
  if tonumber(ARGV[5]) > 0 then
    redis.call('HINCRBY', KEYS[1], 'calEst', est)
    redis.call('HINCRBY', KEYS[1], 'calReal', ARGV[5])
  end
end
redis.call('HINCRBY', KEYS[1], 'succeeded', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'failed', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'truncated', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[5])
local deduplicated = tonumber(ARGV[9] or '0')
if deduplicated > 0 then redis.call('HINCRBY', KEYS[1], 'deduplicated', deduplicated) end
redis.call('HINCRBY', KEYS[1], 'shardsDone', 1)
if ARGV[10] then countUsage(KEYS[1], KEYS[6], ARGV[10], ARGV[11], ARGV[12]) end
return finishIfLastShard(KEYS[1], KEYS[3], KEYS[4], KEYS[5], ARGV[8], ARGV[6], before)
