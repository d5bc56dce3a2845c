-- Partition 0's timer for the topic's other partitions, whose own timers and bell leases
-- expire unheard: each group's `wake-others` key, kept to expire within ARGV[1] ms (set
-- unless it expires as soon or sooner already; no other script touches it). Its expiry
-- is heard on its keyspace channel and drains every partition. With a channel, the
-- groups are rung there too: a ring forwarded from another partition, whose timer then
-- follows a ring lost on its way as an expired bell would.
-- KEYS: each group's wake-others key. ARGV[1] ms, ARGV[2] channel ('': no ring),
-- ARGV[3] the groups (comma-separated). Returns how many subscribers heard the ring.
local ms = tonumber(ARGV[1])
for _, key in ipairs(KEYS) do
  local left = redis.call('PTTL', key)
  if not (left >= 0 and left <= ms) then redis.call('SET', key, 'timer', 'PX', ms) end
end
if ARGV[2] == '' then return 0 end
return redis.call('PUBLISH', ARGV[2], ARGV[3])
