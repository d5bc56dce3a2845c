-- Claims up to COUNT entries for one consumer group: first those pending longer than
-- the visibility timeout (redeliveries), then new ones. Entries delivered more than
-- MAX times move to the group's dead-letter stream with the last recorded failure.
-- KEYS: stream, dead-letter stream, failures hash.
-- ARGV: group, consumer, visibility ms, count, max deliveries, all groups...
-- Returns a flat list: entry id, deliveries, envelope, entry id, deliveries, envelope...
local stream, dead, failures = KEYS[1], KEYS[2], KEYS[3]
local group, consumer = ARGV[1], ARGV[2]
local idle, count, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])

if redis.call('EXISTS', stream) == 0 then
  for i = 6, #ARGV do
    redis.call('XGROUP', 'CREATE', stream, ARGV[i], '0', 'MKSTREAM')
  end
end
-- A group added to the configuration later starts at the beginning of what is left.
redis.pcall('XGROUP', 'CREATE', stream, group, '0')

local out, taken = {}, 0
local function take(id, fields, deliveries)
  local envelope, only
  for i = 1, #fields, 2 do
    if fields[i] == 'e' then envelope = fields[i + 1] elseif fields[i] == 'only' then only = fields[i + 1] end
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
return out
