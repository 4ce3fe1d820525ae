--[[
  Releases a lock still held by the caller: one that expired and was taken by another holder stays.

  Input:
    KEYS[1] the lock (a string key holding the holder's token)

    ARGV[1] the caller's token

  Output:
    1 - released
    0 - not held by the caller
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
