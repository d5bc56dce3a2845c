-- Appends an order envelope to the topic and rings the doorbell for every consumer
-- group whose bell is free, atomically: at most one doorbell is outstanding per group
-- (a burst of N orders rings a handful of times, not N). A group's bell (its wake key
-- holding 'bell') is taken here with a lease and released by its consumer when it
-- finds the group empty (see exchange.lua), so an order appended after that finds it
-- free and rings. A wake key holding a retry 'timer' is not a bell: the order rings.
--
-- With an Idempotency-Key, the key's record is read and written in this same script:
-- a repeat with the same body fingerprint gets the first answer back and appends
-- nothing; with another body, a mismatch. So it holds across replicas, and no request
-- can see the key half-recorded.
--
-- KEYS[1] stream, KEYS[2] the stats hash (its `accepted` counts appended orders),
-- KEYS[3 .. 2+n] each group's wake key, in the order of the groups, KEYS[3+n] the
-- idempotency record (only with a key).
-- ARGV[1] envelope, ARGV[2] doorbell channel ('': the caller rings over HTTP), ARGV[3] lease ms, ARGV[4] n groups,
-- ARGV[5 .. 4+n] groups, then with a key: body fingerprint, the answer to keep, its
-- lifetime ms.
-- The first append creates the stream with every group at its start, so no entry can
-- be trimmed before a group that has not run yet has seen it.
-- Returns {'appended', entry id, doorbell payload ('' when nothing rang)},
-- {'replay', the first answer}, or {'mismatch'}.
local stream, channel, lease, n = KEYS[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local record = KEYS[3 + n]
if record then
  local seen = redis.call('HMGET', record, 'fingerprint', 'answer')
  if seen[1] then
    if seen[1] == ARGV[5 + n] then return {'replay', seen[2]} end
    return {'mismatch'}
  end
end
if redis.call('EXISTS', stream) == 0 then
  for i = 1, n do
    redis.call('XGROUP', 'CREATE', stream, ARGV[4 + i], '0', 'MKSTREAM')
  end
end
local id = redis.call('XADD', stream, '*', 'e', ARGV[1])
redis.call('HINCRBY', KEYS[2], 'accepted', 1)
local ring = {}
for i = 1, n do
  if redis.call('GET', KEYS[2 + i]) ~= 'bell' then
    redis.call('SET', KEYS[2 + i], 'bell', 'PX', lease)
    ring[#ring + 1] = ARGV[4 + i]
  end
end
local payload = table.concat(ring, ',')
if payload ~= '' and channel ~= '' then redis.call('PUBLISH', channel, payload) end
if record then
  redis.call('HSET', record, 'fingerprint', ARGV[5 + n], 'answer', ARGV[6 + n], 'entry', id)
  redis.call('PEXPIRE', record, tonumber(ARGV[7 + n]))
end
return {'appended', id, payload}
