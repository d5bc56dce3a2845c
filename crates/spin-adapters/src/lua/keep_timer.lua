-- Partition 0's wake key of a group, kept as a timer for the other partitions (whose
-- own timers expire unheard): set to expire in ARGV[1] ms, unless it holds a bell (its
-- lease wakes the group, and the drain it rang for sets what it needs) or a timer that
-- expires as soon or sooner.
-- KEYS[1] the wake key. ARGV[1] ms. Returns 1 when it set the timer, else 0.
local held = redis.call('GET', KEYS[1])
if held == 'bell' then return 0 end
if held == 'timer' then
  local left = redis.call('PTTL', KEYS[1])
  if left >= 0 and left <= tonumber(ARGV[1]) then return 0 end
end
redis.call('SET', KEYS[1], 'timer', 'PX', ARGV[1])
return 1
