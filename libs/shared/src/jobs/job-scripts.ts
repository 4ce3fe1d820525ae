/**
 * Queue-wide accounting (jobs per state, backlog texts and tokens) in the stats hash (JobKeys.stats()),
 * for jobs created with an estimate (field acct = 1; older records are left out, never decremented).
 * Each such job holds its current share of the backlog in blTexts / blTokens; after any change this
 * recomputes the share and moves the stats hash by the difference, so the totals are always the sum
 * of the shares of queued and running jobs, and a job that ends (completed, failed, cancelled) leaves
 * nothing behind. Tokens: estTokens (ingest estimate, see ops/token-estimate.ts) minus the estimate of
 * the shards already finished (estDone), scaled by real/estimated tokens of the job's completed
 * shards (calReal / calEst) once it has some. `before` is the state before the script ran.
 * Called with a nil stats key (callers that pass no KEYS for it) it does nothing.
 */
export const ACCOUNT = `
local function sw_account(job, stats, before)
  if not stats or redis.call('HGET', job, 'acct') ~= '1' then return end
  local f = redis.call('HMGET', job, 'state', 'total', 'succeeded', 'failed', 'estTokens', 'estDone', 'calEst', 'calReal', 'blTexts', 'blTokens', 'tenant', 'admitted')
  local state = f[1]
  if not state then return end
  local tenant = f[11] or 'default'
  if before and before ~= state then
    redis.call('HINCRBY', stats, 'jobs:' .. before, -1)
    redis.call('HINCRBY', stats, 'jobs:' .. state, 1)
    -- Admission (admission-scripts.ts): an admitted job holds one of its tenant's unfinished-job slots until it ends.
    if f[12] == '1' and (before == 'queued' or before == 'running') and state ~= 'queued' and state ~= 'running' then
      redis.call('HINCRBY', stats, 'active:' .. tenant, -1)
    end
  end
  local texts, tokens = 0, 0
  if state == 'queued' or state == 'running' then
    texts = math.max(0, (tonumber(f[2]) or 0) - (tonumber(f[3]) or 0) - (tonumber(f[4]) or 0))
    local raw = math.max(0, (tonumber(f[5]) or 0) - (tonumber(f[6]) or 0))
    local calEst = tonumber(f[7]) or 0
    if calEst > 0 then raw = raw * (tonumber(f[8]) or 0) / calEst end
    if texts > 0 then tokens = math.floor(raw + 0.5) end
  end
  local dTexts = texts - (tonumber(f[9]) or 0)
  local dTokens = tokens - (tonumber(f[10]) or 0)
  if dTexts ~= 0 then
    redis.call('HINCRBY', stats, 'backlog:texts', dTexts)
    -- Per tenant too: the tenant's admission budget (admission-scripts.ts).
    redis.call('HINCRBY', stats, 'backlog:texts:' .. tenant, dTexts)
  end
  if dTokens ~= 0 then redis.call('HINCRBY', stats, 'backlog:tokens', dTokens) end
  redis.call('HSET', job, 'blTexts', texts, 'blTokens', tokens)
end
`;

/**
 * Webhook outbox (JobKeys.webhookOutbox()): a job that has a callbackUrl enters it in the same
 * atomic step that makes it terminal, so a process that dies before queueing the delivery cannot
 * lose it. No-op without an outbox key or job id (older callers).
 */
export const OUTBOX = `
local function sw_outbox(job, outbox, id, now)
  if not outbox or not id or id == '' then return end
  if redis.call('HEXISTS', job, 'callbackUrl') == 1 then redis.call('ZADD', outbox, now, id) end
end
`;

/**
 * Retention (JobKeys.expiry()): a job with `expiresAfter` (seconds) gets `expiresAt` (ms) when it ends,
 * in the same step, and enters the expiry sorted set the janitor reads. No-op without the key (older callers).
 */
export const EXPIRE = `
local function sw_expire(job, expiry, id, now)
  if not expiry or not id or id == '' then return end
  local after = tonumber(redis.call('HGET', job, 'expiresAfter'))
  if not after then return end
  local at = tonumber(now) + after * 1000
  redis.call('HSET', job, 'expiresAt', at)
  redis.call('ZADD', expiry, at, id)
end
`;

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
  sw_account(KEYS[1], KEYS[3], before)
  sw_outbox(KEYS[1], KEYS[4], jobId, ARGV[6])
  sw_expire(KEYS[1], KEYS[5], jobId, ARGV[6])
  return 2
end
sw_account(KEYS[1], KEYS[3], before)
return 1
`;

/**
 * ARGV: shard, succeeded, failed, truncated, tokens, nowMs, estTokens (the shard's ingest estimate, optional), job id (optional).
 * KEYS[3] (optional): the stats hash; KEYS[4] (optional): the webhook outbox; KEYS[5] (optional): the expiry set.
 * Returns -1 unknown job, 0 already counted, 1 counted, 2 counted and job finished.
 */
export const COMPLETE_SHARD = `
${ACCOUNT}
${OUTBOX}
${EXPIRE}
local jobId = ARGV[8]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
local before = redis.call('HGET', KEYS[1], 'state')
local est = tonumber(ARGV[7]) or 0
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
redis.call('HINCRBY', KEYS[1], 'shardsDone', 1)
${finishIfLast}
`;

/**
 * ARGV: shard, 0, itemCount, 0, 0, nowMs, reason, estTokens (optional), job id (optional); KEYS[3] (optional): stats;
 * KEYS[4] (optional): the webhook outbox; KEYS[5] (optional): the expiry set. A shard that ran out of attempts: all its items fail.
 */
export const FAIL_SHARD = `
${ACCOUNT}
${OUTBOX}
${EXPIRE}
local jobId = ARGV[9]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('SADD', KEYS[2], ARGV[1]) == 0 then return 0 end
local before = redis.call('HGET', KEYS[1], 'state')
local est = tonumber(ARGV[8]) or 0
if est > 0 then redis.call('HINCRBY', KEYS[1], 'estDone', est) end
redis.call('HINCRBY', KEYS[1], 'failed', ARGV[3])
redis.call('HINCRBY', KEYS[1], 'shardsDone', 1)
redis.call('HINCRBY', KEYS[1], 'shardsFailed', 1)
redis.call('HSET', KEYS[1], 'error', ARGV[7])
${finishIfLast}
`;

/** ARGV: nowMs; KEYS[2] (optional): stats. queued -> running on the first shard a worker starts. Returns the state after. */
export const MARK_RUNNING = `
${ACCOUNT}
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' then
  redis.call('HSET', KEYS[1], 'state', 'running', 'startedAt', ARGV[1])
  sw_account(KEYS[1], KEYS[2], state)
  return 'running'
end
return state or ''
`;

/**
 * ARGV: nowMs, job id (optional); KEYS[2] (optional): stats (the job's unfinished remainder leaves the backlog);
 * KEYS[3] (optional): the webhook outbox; KEYS[4] (optional): the expiry set. Returns the state before; only
 * queued or running jobs become cancelled.
 */
export const CANCEL_JOB = `
${ACCOUNT}
${OUTBOX}
${EXPIRE}
local state = redis.call('HGET', KEYS[1], 'state')
if state == 'queued' or state == 'running' then
  redis.call('HSET', KEYS[1], 'state', 'cancelled', 'finishedAt', ARGV[1])
  sw_account(KEYS[1], KEYS[2], state)
  sw_outbox(KEYS[1], KEYS[3], ARGV[2], ARGV[1])
  sw_expire(KEYS[1], KEYS[4], ARGV[2], ARGV[1])
end
return state or ''
`;

/**
 * KEYS: job hash, finished-shard set, tenant job list, stats hash, expiry set (optional); ARGV: job id.
 * Removes a job (a submission undone while enqueueing, a deleted or expired job) and takes its state
 * and backlog share out of the stats.
 */
export const DELETE_JOB = `
local f = redis.call('HMGET', KEYS[1], 'acct', 'state', 'blTexts', 'blTokens', 'tenant', 'admitted')
if f[1] == '1' and KEYS[4] then
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
if KEYS[5] then redis.call('ZREM', KEYS[5], ARGV[1]) end
return 1
`;
