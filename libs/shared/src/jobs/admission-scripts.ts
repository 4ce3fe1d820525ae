import { ACCOUNT } from './job-scripts.js';

/**
 * Admission control, in the same stats hash as the queue-wide accounting (job-scripts.ts ACCOUNT):
 *
 * - `active:<tenant>`: the tenant's unfinished (queued or running) jobs. CREATE_JOB adds one and marks
 *   the job `admitted`; ACCOUNT takes it off when the job ends (completed, failed, cancelled) and
 *   DELETE_JOB when a submission is undone. Checked against MAX_CONCURRENT_JOBS / max_concurrent_jobs.
 * - `backlog:bytes`: payload bytes of the shards of unfinished jobs (each job's share shrinks with the
 *   texts it has left, see ACCOUNT), plus, outside the stats hash, the bytes staged by uploads still
 *   being read: `staging:bytes` (hash upload id -> bytes) with `staging:expiry` (sorted set, score =
 *   when the upload's staging keys expire). An API that dies mid-upload leaves an entry that is
 *   dropped once its staging has expired, like the staged keys themselves.
 *   Staged + queued bytes never exceed ADMISSION_MAX_BACKLOG_BYTES: a shard that would pass it is
 *   refused (STAGE_SHARD), and so is a job while the backlog is at the budget (CHECK, CREATE_JOB).
 */
const HELD = `
local function sw_purge_staging(staging, expiry, now)
  local expired = redis.call('ZRANGEBYSCORE', expiry, '-inf', now)
  if #expired == 0 then return end
  for _, id in ipairs(expired) do redis.call('HDEL', staging, id) end
  redis.call('ZREMRANGEBYSCORE', expiry, '-inf', now)
end
local function sw_held(stats, staging)
  local held = tonumber(redis.call('HGET', stats, 'backlog:bytes')) or 0
  for _, v in ipairs(redis.call('HVALS', staging)) do held = held + (tonumber(v) or 0) end
  return held
end
`;

/**
 * KEYS: stats, staging bytes, staging expiry. ARGV: tenant, maxActiveJobs, maxBacklogBytes, nowMs (0 = no limit).
 * Returns OK, TOO_MANY_JOBS or BACKLOG_FULL. Checked before an upload is read.
 */
export const ADMISSION_CHECK = `
${HELD}
sw_purge_staging(KEYS[2], KEYS[3], tonumber(ARGV[4]))
local maxActive = tonumber(ARGV[2]) or 0
if maxActive > 0 and (tonumber(redis.call('HGET', KEYS[1], 'active:' .. ARGV[1])) or 0) >= maxActive then return 'TOO_MANY_JOBS' end
local maxBytes = tonumber(ARGV[3]) or 0
if maxBytes > 0 and sw_held(KEYS[1], KEYS[2]) >= maxBytes then return 'BACKLOG_FULL' end
return 'OK'
`;

/**
 * KEYS: staged shard key, stats, staging bytes, staging expiry. ARGV: payload, ttlSeconds, upload (job) id,
 * payload bytes, maxBacklogBytes (0 = no limit), nowMs. Returns 1 staged, 0 refused (the budget would be passed).
 */
export const STAGE_SHARD = `
${HELD}
local now = tonumber(ARGV[6])
sw_purge_staging(KEYS[3], KEYS[4], now)
local bytes = tonumber(ARGV[4])
local maxBytes = tonumber(ARGV[5]) or 0
if maxBytes > 0 and sw_held(KEYS[2], KEYS[3]) + bytes > maxBytes then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
redis.call('HINCRBY', KEYS[3], ARGV[3], bytes)
redis.call('ZADD', KEYS[4], now + tonumber(ARGV[2]) * 1000, ARGV[3])
return 1
`;

/**
 * Creates a job record admitted against its tenant's limits, atomically with the checks.
 * KEYS: job hash, tenant job list, stats, staging bytes, staging expiry.
 * ARGV: job id, tenant, createdAt, state, estTokens, maxActiveJobs, maxBacklogBytes, nowMs, then the
 * record's hash as field, value pairs. The upload's staged bytes become the job's (estBytes).
 * Returns OK, TOO_MANY_JOBS or BACKLOG_FULL (nothing written then).
 */
export const CREATE_JOB = `
${ACCOUNT}
${HELD}
local now = tonumber(ARGV[8])
sw_purge_staging(KEYS[4], KEYS[5], now)
local maxActive = tonumber(ARGV[6]) or 0
if maxActive > 0 and (tonumber(redis.call('HGET', KEYS[3], 'active:' .. ARGV[2])) or 0) >= maxActive then return 'TOO_MANY_JOBS' end
local maxBytes = tonumber(ARGV[7]) or 0
if maxBytes > 0 and sw_held(KEYS[3], KEYS[4]) > maxBytes then return 'BACKLOG_FULL' end
local own = tonumber(redis.call('HGET', KEYS[4], ARGV[1])) or 0
redis.call('HDEL', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[5], ARGV[1])
local fields = {}
for i = 9, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('HSET', KEYS[1], unpack(fields))
local state = ARGV[4]
local active = state == 'queued' or state == 'running'
redis.call('HSET', KEYS[1], 'acct', '1', 'estTokens', ARGV[5], 'estDone', '0', 'estBytes', own, 'blTexts', 0, 'blTokens', 0, 'blBytes', 0, 'admitted', active and '1' or '0')
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
redis.call('HINCRBY', KEYS[3], 'jobs:' .. state, 1)
if active then redis.call('HINCRBY', KEYS[3], 'active:' .. ARGV[2], 1) end
sw_account(KEYS[1], KEYS[3], nil)
return 'OK'
`;
