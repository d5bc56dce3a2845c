-- A ring from a partition other than 0, whose own channel no one hears: published on
-- partition 0's channel, and each group's `wake-others` timer kept (as keep_timer.lua
-- does) to expire within the bell's lease, so a ring lost on its way (a consumer that
-- fails before it drains) is followed when the bell it rang for would have expired.
-- KEYS: each rung group's wake-others key. ARGV[1] channel, ARGV[2] the groups
-- (comma-separated), ARGV[3] lease ms. Returns how many subscribers heard it.
local lease = tonumber(ARGV[3])
for _, key in ipairs(KEYS) do
  local left = redis.call('PTTL', key)
  if not (left >= 0 and left <= lease) then redis.call('SET', key, 'timer', 'PX', lease) end
end
return redis.call('PUBLISH', ARGV[1], ARGV[2])
