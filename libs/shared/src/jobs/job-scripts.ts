/**
 * Lua for the job record's state machine. Each runs atomically in Redis, so two workers finishing
 * the same shard (a retried shard whose first run was presumed dead) never count it twice: the
 * shard index goes into a set first and only a new member moves the counters.
 *
 * KEYS[1] job hash, KEYS[2] set of finished shard indexes.
 */
const finishIfLast = `
local done = tonumber(redis.call('HGET', KEYS[1], 'shardsDone'))
local total = tonumber(redis.call('HGET', KEYS[1], 'shardsTotal'))
local state = redis.call('HGET', KEYS[1], 'state')
if done >= total and (state == 'queued' or state == 'running') then
  local ok = tonumber(redis.call('HGET', KEYS[1], 'succeeded'))
  local bad = tonumber(redis.call('HGET', KEYS[1], 'failed'))
  local final = 'completed'
  if ok == 0 and bad > 0 then final = 'failed' end
  redis.call('HSET', KEYS[1], 'state', final, 'finishedAt', ARGV[6])
  if redis.call('HEXISTS', KEYS[1], 'startedAt') == 0 then redis.call('HSET', KEYS[1], 'startedAt', ARGV[6]) end
  return 2
end
return 1
`;

/** ARGV: shard, succeeded, failed, truncated, tokens, nowMs. Returns -1 unknown job, 0 already counted, 1 counted, 2 counted and job finished. */
export const COMPLETE_SHARD = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'succeeded', ARGV[2])
redis.call('HINCRBY', KEYS[1], 'failed', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'truncated', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'tokens', ARGV[5])
redis.call('HINCRBY', KEYS[1], 'shardsDone', 1)
${finishIfLast}
`;

/** ARGV: shard, 0, itemCount, 0, 0, nowMs, reason. A shard that ran out of attempts: all its items fail. */
export const FAIL_SHARD = `
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[1], 'failed', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'shardsDone', 1)
redis.call('HINCRBY', KEYS[1], 'shardsFailed', 1)
redis.call('HSET', KEYS[1], 'error', ARGV[7])
${finishIfLast}
`;

/** ARGV: nowMs. queued -> running on the first shard a worker starts. Returns the state after. */
export const MARK_RUNNING = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'running', 'startedAt', ARGV[1])
  return 'running'
end
return state or ''
`;

/** ARGV: nowMs. Returns the state before; only queued or running jobs become cancelled. */
export const CANCEL_JOB = `
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finishedAt', ARGV[1])
end
return state or ''
`;
