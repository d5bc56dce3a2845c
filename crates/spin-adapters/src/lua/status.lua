-- The pipeline's health, per consumer group.
-- KEYS: stream, stats hash, retry-clock check prefix (`<prefix>:<run id>`). ARGV: dead-letter key prefix (the group
-- name is appended).
-- Returns: stream length, the last retry-clock check ('' if none lately), orders
-- accepted (the stats hash's `accepted`), the server's maxmemory-policy ('' if INFO is
-- refused), then per
-- group: name, lag (-1 unknown), pending, oldest pending age ms (-1 none), dead
-- letters, delivered, acked.
local stream, stats, clock, dead_prefix = KEYS[1], KEYS[2], KEYS[3], ARGV[1]
local info = redis.pcall('INFO', 'server')
local run_id = type(info) == 'string' and string.match(info, 'run_id:(%w+)') or 'unknown'
local checked = redis.call('GET', clock .. ':' .. run_id) or ''
local accepted = tonumber(redis.call('HGET', stats, 'accepted') or '0')
local memory = redis.pcall('INFO', 'memory')
local policy = type(memory) == 'string' and string.match(memory, 'maxmemory_policy:([%w-]+)') or ''
if redis.call('EXISTS', stream) == 0 then return {0, checked, accepted, policy} end
local now = redis.call('TIME')
local now_ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local out = {redis.call('XLEN', stream), checked, accepted, policy}
for _, g in ipairs(redis.call('XINFO', 'GROUPS', stream)) do
  local info = {}
  for j = 1, #g, 2 do info[g[j]] = g[j + 1] end
  local name = info['name']
  local age = -1
  if info['pending'] > 0 then
    local oldest = redis.call('XPENDING', stream, name)[2]
    age = now_ms - tonumber(string.match(oldest, '(%d+)-'))
  end
  local lag = info['lag']
  if type(lag) ~= 'number' then lag = -1 end
  out[#out + 1] = name
  out[#out + 1] = lag
  out[#out + 1] = info['pending']
  out[#out + 1] = age
  out[#out + 1] = redis.call('XLEN', dead_prefix .. name)
  out[#out + 1] = info['entries-read'] or 0
  out[#out + 1] = tonumber(redis.call('HGET', stats, name .. ':acked') or '0')
end
return out
