-- The timer partition 0 keeps for a group's other partitions (whose own timers expire
-- unheard): its `wake-others` key, set to expire in ARGV[1] ms unless it expires as soon
-- or sooner already. Its expiry is heard on its keyspace channel and drains every
-- partition. No other script touches the key.
-- KEYS[1] the key. ARGV[1] ms. Returns 1 when it set the timer, else 0.
local left = redis.call('PTTL', KEYS[1])
if left >= 0 and left <= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], 'timer', 'PX', ARGV[1])
return 1
