-- The platform clock's tick (GET /pipeline/tick): rings each consumer group with work
-- waiting (entries not yet delivered to it, or pending), whether or not its bell is
-- taken: a bell or timer that expired while no consumer listened rang for no one, and
-- this rings again. At most once per LIMIT ms for the whole topic, so replicas probed
-- at once ring once.
-- KEYS: the rate limit's key, stream. ARGV: doorbell channel ('': the caller rings over
-- HTTP), limit ms, groups...
-- Returns the groups rung, comma-separated ('' when none, or rate-limited), and how
-- many subscribers heard it.
local channel, limit = ARGV[1], tonumber(ARGV[2])
if redis.call('EXISTS', KEYS[2]) == 0 then return {'', 0} end
if not redis.call('SET', KEYS[1], 'tick', 'NX', 'PX', limit) then return {'', 0} end
local last = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)[1]
local known = {}
for _, g in ipairs(redis.call('XINFO', 'GROUPS', KEYS[2])) do
  local info = {}
  for j = 1, #g, 2 do info[g[j]] = g[j + 1] end
  known[info['name']] = info
end
local groups = {}
for i = 3, #ARGV do
  local info = known[ARGV[i]]
  -- A group not created yet has the whole stream waiting.
  local waiting = last ~= nil and (info == nil or info['last-delivered-id'] ~= last[1])
  if waiting or (info ~= nil and info['pending'] > 0) then groups[#groups + 1] = ARGV[i] end
end
if #groups == 0 then return {'', 0} end
local payload = table.concat(groups, ',')
if channel == '' then return {payload, 0} end
return {payload, redis.call('PUBLISH', channel, payload)}
