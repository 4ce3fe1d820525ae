--[[
  Extends a lock still held by the caller.

  Input:
    KEYS[1] the lock (a string key holding the holder's token)

    ARGV[1] the caller's token
    ARGV[2] the new time to live (ms)

  Output:
    1 - extended
    0 - not held by the caller (lost)
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
