-- Rings the doorbell for every consumer group (POST /pipeline/doorbell, an operator's
-- or a supervisor's kick after a restart), rate-limited to once per LIMIT ms for the
-- whole topic. It rings even a group whose bell is taken: a bell can be held by a
-- consumer that died, and this is how an operator gets past it at once.
-- KEYS[1] the rate limit's key. ARGV[1] doorbell channel ('': the caller rings over
-- HTTP), ARGV[2] limit ms, ARGV[3..]
-- groups. Returns the groups rung, comma-separated, or '' when rate-limited; and how
-- many subscribers heard it (0: no consumer is listening yet).
local channel, limit = ARGV[1], tonumber(ARGV[2])
if not redis.call('SET', KEYS[1], 'rung', 'NX', 'PX', limit) then return {'', 0} end
local groups = {}
for i = 3, #ARGV do groups[#groups + 1] = ARGV[i] end
local payload = table.concat(groups, ',')
if channel == '' then return {payload, 0} end
local heard = redis.call('PUBLISH', channel, payload)
return {payload, heard}
