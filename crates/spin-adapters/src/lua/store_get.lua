-- The values of a store's keys, in order (nil where there is none): one round trip for
-- a batch's reads. KEYS: the entries' keys.
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('HGET', key, 'd') or false end
return out
