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
-- The durability level (see topic/durability.rs) is checked first: its plan for this run
-- of the server is read from the facts hash `<prefix>:<run id>`. With none (never
-- learned, expired, or a restarted or promoted server, which has another run id) the
-- script appends nothing and asks for it; with a refusal, it appends nothing and says
-- why. The plan goes back with the answer, for order-api to confirm after it. A replay
-- writes once (the record's `replays`), so the confirmation covers the first append.
--
-- KEYS[1] stream, KEYS[2] the stats hash (its `accepted` counts appended orders),
-- KEYS[3 .. 2+n] each group's wake key, in the order of the groups, KEYS[3+n] the
-- idempotency record (only with a key).
-- ARGV[1] envelope, ARGV[2] doorbell channel ('': the caller rings over HTTP), ARGV[3] lease ms, ARGV[4] n groups,
-- ARGV[5] the facts hash's prefix, ARGV[6] the plan's field ('': no check),
-- ARGV[7 .. 6+n] groups, then with a key: body fingerprint, the answer to keep, its
-- lifetime ms.
-- The first append creates the stream with every group at its start, so no entry can
-- be trimmed before a group that has not run yet has seen it.
-- Returns {'appended', entry id, doorbell payload ('' when nothing rang), plan},
-- {'replay', the first answer, plan}, {'mismatch'}, {'learn', run id} or
-- {'refused', why}.
local stream, channel, lease, n = KEYS[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local facts, field, g = ARGV[5], ARGV[6], 6
local record = KEYS[3 + n]
local plan = ''
if field ~= '' then
  -- INFO is in ACL category @dangerous: a user without it shares one plan, under 'unknown'.
  local info = redis.pcall('INFO', 'server')
  local run_id = type(info) == 'string' and string.match(info, 'run_id:(%w+)') or 'unknown'
  plan = redis.call('HGET', facts .. ':' .. run_id, field)
  if not plan then return {'learn', run_id} end
  if string.sub(plan, 1, 7) == 'refuse:' then return {'refused', string.sub(plan, 8)} end
end
if record then
  local seen = redis.call('HMGET', record, 'fingerprint', 'answer')
  if seen[1] then
    if seen[1] == ARGV[g + n + 1] then
      if plan ~= '' then redis.call('HINCRBY', record, 'replays', 1) end
      return {'replay', seen[2], plan}
    end
    return {'mismatch'}
  end
end
if redis.call('EXISTS', stream) == 0 then
  for i = 1, n do
    redis.call('XGROUP', 'CREATE', stream, ARGV[g + i], '0', 'MKSTREAM')
  end
end
local id = redis.call('XADD', stream, '*', 'e', ARGV[1])
redis.call('HINCRBY', KEYS[2], 'accepted', 1)
local ring = {}
for i = 1, n do
  if redis.call('GET', KEYS[2 + i]) ~= 'bell' then
    redis.call('SET', KEYS[2 + i], 'bell', 'PX', lease)
    ring[#ring + 1] = ARGV[g + i]
  end
end
local payload = table.concat(ring, ',')
if payload ~= '' and channel ~= '' then redis.call('PUBLISH', channel, payload) end
if record then
  redis.call('HSET', record, 'fingerprint', ARGV[g + n + 1], 'answer', ARGV[g + n + 2], 'entry', id)
  redis.call('PEXPIRE', record, tonumber(ARGV[g + n + 3]))
end
return {'appended', id, payload, plan}
