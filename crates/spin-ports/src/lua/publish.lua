-- Appends an order envelope to the topic and rings the doorbell for every consumer
-- group whose bell is free, atomically: at most one doorbell is outstanding per group
-- (a burst of N orders rings a handful of times, not N). A group's bell (its wake key
-- holding 'bell') is taken here with a lease and released by its consumer when it
-- finds the group empty (see exchange.lua), so an order appended after that finds it
-- free and rings. A wake key holding a retry 'timer' is not a bell: the order rings.
-- KEYS[1] stream, KEYS[2..] each group's wake key, in the order of the groups.
-- ARGV[1] envelope, ARGV[2] doorbell channel, ARGV[3] lease ms, ARGV[4..] groups.
-- The first append creates the stream with every group at its start, so no entry can
-- be trimmed before a group that has not run yet has seen it.
-- Returns the entry id and the doorbell's payload ('' when nothing rang).
local stream, channel, lease = KEYS[1], ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', stream) == 0 then
  for i = 4, #ARGV do
    redis.call('XGROUP', 'CREATE', stream, ARGV[i], '0', 'MKSTREAM')
  end
end
local id = redis.call('XADD', stream, '*', 'e', ARGV[1])
local ring = {}
for i = 4, #ARGV do
  if redis.call('GET', KEYS[i - 2]) ~= 'bell' then
    redis.call('SET', KEYS[i - 2], 'bell', 'PX', lease)
    ring[#ring + 1] = ARGV[i]
  end
end
local payload = table.concat(ring, ',')
if payload ~= '' then redis.call('PUBLISH', channel, payload) end
return {id, payload}
