-- Newest wins, decided atomically: each put is written unless its key holds a newer
-- version, in order (a later put to the same key sees an earlier one). One script, so
-- any number of writers on any number of replicas can put at once.
-- Each entry is a hash: `v` the version (the writing message's id), `d` the value.
-- Versions compare byte by byte (message ids are fixed-width lower-case text whose byte
-- order is their time order), never with Lua's locale-dependent `<`.
-- KEYS: the entries' keys, one per put. ARGV: version, value, version, value, ...
-- Returns one string per put: '' when written, else the newer version the key holds.
local function older(a, b)
  local n = math.min(#a, #b)
  for i = 1, n do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x < y end
  end
  return #a < #b
end
local out = {}
for i, key in ipairs(KEYS) do
  local version, value = ARGV[2 * i - 1], ARGV[2 * i]
  local held = redis.call('HGET', key, 'v')
  if held and older(version, held) then
    out[i] = held
  else
    redis.call('HSET', key, 'v', version, 'd', value)
    out[i] = ''
  end
end
return out
