-- Plain writes, whatever the keys hold: each value with no version (the next versioned
-- put replaces it). KEYS: the entries' keys. ARGV: their values, in the same order.
for i, key in ipairs(KEYS) do redis.call('HSET', key, 'v', '', 'd', ARGV[i]) end
return #KEYS
