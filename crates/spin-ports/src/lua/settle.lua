-- Settles a batch for one consumer group, then trims what every group has acked.
-- KEYS: stream, dead-letter stream, failures hash, stats hash.
-- ARGV: group, n acked, ids..., n failed, (id, reason)..., n dead, (id, reason)...
-- Returns the number acknowledged.
local stream, dead, failures, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local group = ARGV[1]
local i = 2
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
redis.call('HINCRBY', stats, group .. ':acked', acked)

-- Trim below the oldest entry some group still needs: its oldest pending entry, or
-- else the last one it was delivered (kept, harmlessly, so the minimum is exact).
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
return acked
