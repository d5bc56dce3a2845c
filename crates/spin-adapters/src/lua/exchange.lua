-- One round trip per batch for a consumer group: settles the previous batch, then
-- claims the next, and says whether more is waiting. Claims first the entries pending
-- longer than the visibility timeout (retries), then new ones; entries delivered more
-- than MAX times move to the group's dead-letter stream with the last recorded failure.
-- Entries it skips (a redrive for another group, an entry with no envelope) do not
-- shorten the batch: it reads on until the batch is full or the group is empty.
--
-- The group's wake key (see delivery.rs in order-core) is the doorbell's bell and the
-- retry clock in one, so one keyspace channel hears both when the key expires:
-- - 'bell': a ring is out or the group is draining. Renewed on claims (a lease of
--   LEASE ms); released when the drain ends with nothing left to claim, in this same
--   script, so an order appended a moment later finds it free and rings. Stopping at
--   the limit with more waiting keeps it and rings for this group only. A bell that
--   expires was held by a consumer that died: its expiry wakes the group.
-- - 'timer': set when a drain ends with entries pending, to expire when the earliest
--   becomes claimable again; its expiry wakes the group with no traffic at all. A new
--   order replaces it with a bell and rings; that drain sets it again when it ends.
-- Trims the stream, never past an entry some group still needs, when the group is
-- caught up or the stream is long.
--
-- KEYS: stream, dead-letter stream, failures hash, stats hash, wake key, and the
-- prefix of the retry-clock check (`<prefix>:<run id>`: a restarted Redis has lost its
-- CONFIG SET, and has a new run id, so it is checked again).
-- ARGV: group, consumer, visibility ms, count (0: settle and stop), max deliveries,
--       stop reason when count is 0 ('limit' or 'pause'), doorbell channel ('': the
--       caller rings over HTTP), lease ms, first (1: the invocation's first exchange),
--       n groups, groups..., n acked, ids..., n failed, (id, reason)...,
--       n dead, (id, reason)...
-- Returns a flat list: more (0/1), the run id when the retry clock wants checking (on
-- an invocation's first contact with this run of the server, or when it arms the clock,
-- unless checked in the last minute; else ''), rang (0/1), the retry clock's timer in
-- ms when this call ended the drain and set it (else -1), then
-- entry id, deliveries, envelope, entry id, deliveries, envelope...
local stream, dead, failures, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local wake, clock = KEYS[5], KEYS[6]
local group, consumer = ARGV[1], ARGV[2]
local idle, count, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local stop, channel, lease, first = ARGV[6], ARGV[7], tonumber(ARGV[8]), ARGV[9] == '1'
local i = 10

-- Every configured group exists before any group acknowledges (and so trims), even
-- when the stream was made by something else than order-api; a group added to the
-- configuration later starts at the beginning of what is left.
local ngroups = tonumber(ARGV[i]); i = i + 1
for _ = 1, ngroups do
  redis.pcall('XGROUP', 'CREATE', stream, ARGV[i], '0', 'MKSTREAM')
  i = i + 1
end
redis.pcall('XGROUP', 'CREATE', stream, group, '0', 'MKSTREAM')

-- Settle the previous batch.
local acked = 0
local n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  acked = acked + redis.call('XACK', stream, group, ARGV[i])
  redis.call('HDEL', failures, ARGV[i])
  i = i + 1
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  redis.call('HSET', failures, ARGV[i], ARGV[i + 1])
  i = i + 2
end
n = tonumber(ARGV[i]); i = i + 1
for _ = 1, n do
  local id, reason = ARGV[i], ARGV[i + 1]
  i = i + 2
  local entry = redis.call('XRANGE', stream, id, id)[1]
  local envelope = ''
  if entry then
    for j = 1, #entry[2], 2 do
      if entry[2][j] == 'e' then envelope = entry[2][j + 1] end
    end
  end
  local p = redis.call('XPENDING', stream, group, id, id, 1)
  redis.call('XADD', dead, '*', 'id', id, 'e', envelope, 'reason', reason, 'deliveries', p[1] and p[1][4] or 1)
  redis.call('XACK', stream, group, id)
  redis.call('HDEL', failures, id)
end
if acked > 0 then redis.call('HINCRBY', stats, group .. ':acked', acked) end

local function older(a, b)
  local ams, aseq = string.match(a, '(%d+)-(%d+)')
  local bms, bseq = string.match(b, '(%d+)-(%d+)')
  ams, bms = tonumber(ams), tonumber(bms)
  if ams ~= bms then return ams < bms end
  return tonumber(aseq) < tonumber(bseq)
end

-- Claim the next batch.
local out, taken = {0, '', 0, -1}, 0
local function take(id, fields, deliveries)
  local envelope, only
  for j = 1, #fields, 2 do
    if fields[j] == 'e' then envelope = fields[j + 1] elseif fields[j] == 'only' then only = fields[j + 1] end
  end
  if only and only ~= group then
    redis.call('XACK', stream, group, id) -- a redrive meant for another group
  elseif envelope == nil then
    redis.call('XADD', dead, '*', 'id', id, 'reason', 'entry has no envelope', 'deliveries', deliveries)
    redis.call('XACK', stream, group, id)
  elseif deliveries > max then
    local reason = redis.call('HGET', failures, id) or 'no failure recorded'
    redis.call('XADD', dead, '*', 'id', id, 'e', envelope, 'reason', reason, 'deliveries', deliveries - 1)
    redis.call('XACK', stream, group, id)
    redis.call('HDEL', failures, id)
  else
    out[#out + 1] = id
    out[#out + 1] = deliveries
    out[#out + 1] = envelope
    taken = taken + 1
  end
end

-- Whether anything is claimable now: entries never delivered to the group, or pending
-- past the visibility timeout.
local function waiting()
  local last = redis.call('XREVRANGE', stream, '+', '-', 'COUNT', 1)[1]
  if last then
    for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
      local info = {}
      for j = 1, #g, 2 do info[g[j]] = g[j + 1] end
      if info['name'] == group and older(info['last-delivered-id'], last[1]) then return true end
    end
  end
  return #redis.call('XPENDING', stream, group, 'IDLE', idle, '-', '+', 1) > 0
end

local more
if count > 0 then
  -- Bounded, so one call stays short however many entries it must skip.
  local cursor, rounds = '0-0', 0
  repeat
    local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, idle, cursor, 'COUNT', count - taken)
    cursor = claimed[1]
    for _, entry in ipairs(claimed[2]) do
      if entry[2] then
        local p = redis.call('XPENDING', stream, group, entry[1], entry[1], 1)
        take(entry[1], entry[2], p[1] and p[1][4] or 1)
      end
    end
    rounds = rounds + 1
  until taken >= count or cursor == '0-0' or rounds >= 10
  local exhausted = false
  while taken < count and not exhausted and rounds < 20 do
    local want = count - taken
    local fresh = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', want, 'STREAMS', stream, '>')
    local got = fresh and #fresh[1][2] or 0
    if fresh then
      for _, entry in ipairs(fresh[1][2]) do take(entry[1], entry[2], 1) end
    end
    exhausted = got < want
    rounds = rounds + 1
  end
  -- A full batch: the next call tells. A short one: look.
  more = taken >= count or waiting()
else
  more = waiting()
end

-- Holding messages, the group relies on its wake key's expiry if this consumer dies.
local armed = taken > 0
if taken > 0 and (redis.call('GET', wake) ~= 'bell' or redis.call('PTTL', wake) < lease / 2) then
  redis.call('SET', wake, 'bell', 'PX', lease)
end

-- The drain ends here: caught up, or stopped by the caller.
if (count > 0 and taken == 0 and not more) or count == 0 then
  if count == 0 and stop == 'limit' and more then
    redis.call('SET', wake, 'bell', 'PX', lease)
    if channel ~= '' then redis.call('PUBLISH', channel, group) end
    out[3] = 1
  elseif redis.call('XPENDING', stream, group)[1] == 0 then
    if count == 0 and stop == 'pause' and more then
      -- Paused before claiming (the store would not open): try again on the clock.
      redis.call('SET', wake, 'timer', 'PX', idle)
      out[4] = idle
      armed = true
    else
      redis.call('DEL', wake)
    end
  else
    local longest = 0
    for _, p in ipairs(redis.call('XPENDING', stream, group, '-', '+', 100)) do
      if p[3] > longest then longest = p[3] end
    end
    out[4] = math.max(idle - longest, 0) + 1
    redis.call('SET', wake, 'timer', 'PX', out[4])
    armed = true
  end
end
if armed or first then
  -- INFO is in ACL category @dangerous: a user without it checks once a minute instead.
  local info = redis.pcall('INFO', 'server')
  local run_id = type(info) == 'string' and string.match(info, 'run_id:(%w+)') or 'unknown'
  if redis.call('EXISTS', clock .. ':' .. run_id) == 0 then out[2] = run_id end
end
if more then out[1] = 1 end

-- Trim below the oldest entry some group still needs (its oldest pending entry, or
-- else the last one it was delivered), when caught up or past 50,000 entries.
if taken < count or count == 0 or redis.call('XLEN', stream) > 50000 then
  local keep
  for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
    local info = {}
    for j = 1, #g, 2 do info[g[j]] = g[j + 1] end
    local needed = info['last-delivered-id']
    if info['pending'] > 0 then
      needed = redis.call('XPENDING', stream, info['name'])[2]
    end
    if keep == nil or older(needed, keep) then keep = needed end
  end
  if keep and keep ~= '0-0' then
    redis.call('XTRIM', stream, 'MINID', keep)
  end
end
return out
