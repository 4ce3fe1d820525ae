--[[
  Would a new job of this tenant be admitted now? Checked before an upload is read, for a job of one
  text: refused only when not even that would fit (checkBudgets.lua).

  Input:
    KEYS[1] stats hash

    ARGV[1] tenant
    ARGV[2] maxActiveJobs (0: no limit)
    ARGV[3] maxQueuedTexts (0: no limit)
    ARGV[4] maxTenantQueuedTexts (0: no limit)

  Output:
    {verdict, scope, queued, budget}, see checkBudgets.lua
]]
--- @include "includes/checkBudgets"

return checkBudgets(KEYS[1], ARGV[1], 1, tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]))
