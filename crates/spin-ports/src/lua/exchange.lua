-- One round trip per batch for a consumer group: settles the previous batch, then
-- claims the next. Claims first the entries pending longer than the visibility timeout
-- (retries), then new ones; entries delivered more than MAX times move to the group's
-- dead-letter stream with the last recorded failure. Trims the stream, never past an
-- entry some group still needs, when the group is caught up or the stream is long.
-- KEYS: stream, dead-letter stream, failures hash, stats hash.
-- ARGV: group, consumer, visibility ms, count (0: settle only), max deliveries,
--       n groups, groups..., n acked, ids..., n failed, (id, reason)...,
--       n dead, (id, reason)...
-- Returns a flat list: entry id, deliveries, envelope, entry id, deliveries, envelope...
local stream, dead, failures, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group, consumer = ARGV[1], ARGV[2]
local idle, count, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local i = 6

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

-- Claim the next batch.
local out, taken = {}, 0
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
if count > 0 then
  local claimed = redis.call('XAUTOCLAIM', stream, group, consumer, idle, '0-0', 'COUNT', count)
  for _, entry in ipairs(claimed[2]) do
    if entry[2] then
      local p = redis.call('XPENDING', stream, group, entry[1], entry[1], 1)
      take(entry[1], entry[2], p[1] and p[1][4] or 1)
    end
  end
  if taken < count then
    local fresh = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', count - taken, 'STREAMS', stream, '>')
    if fresh then
      for _, entry in ipairs(fresh[1][2]) do take(entry[1], entry[2], 1) end
    end
  end
end

-- Trim below the oldest entry some group still needs (its oldest pending entry, or
-- else the last one it was delivered), when caught up or past 50,000 entries.
if taken < count or count == 0 or redis.call('XLEN', stream) > 50000 then
  local function older(a, b)
    local ams, aseq = string.match(a, '(%d+)-(%d+)')
    local bms, bseq = string.match(b, '(%d+)-(%d+)')
    ams, bms = tonumber(ams), tonumber(bms)
    if ams ~= bms then return ams < bms end
    return tonumber(aseq) < tonumber(bseq)
  end
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
