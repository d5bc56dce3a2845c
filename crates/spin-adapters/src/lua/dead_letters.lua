-- A group's newest dead letters, newest first, each as five values (Spin flattens
-- nested replies, so every entry has the same shape): dead-letter entry id, topic entry
-- id, deliveries, reason, envelope ('' when the entry had none).
-- KEYS[1] the dead-letter stream. ARGV[1] how many. Returns how many it holds, then the
-- entries.
local out = {redis.call('XLEN', KEYS[1])}
for _, entry in ipairs(redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', tonumber(ARGV[1]))) do
  local f = {}
  for j = 1, #entry[2], 2 do f[entry[2][j]] = entry[2][j + 1] end
  out[#out + 1] = entry[1]
  out[#out + 1] = f['id'] or ''
  out[#out + 1] = tonumber(f['deliveries'] or '0') or 0
  out[#out + 1] = f['reason'] or ''
  out[#out + 1] = f['e'] or ''
end
return out
