-- When a group's retry clock on this partition expires: its wake key's time to live in
-- ms when it holds a timer (a drain left entries pending), else -1.
-- KEYS[1] the wake key.
if redis.call('GET', KEYS[1]) == 'timer' then return redis.call('PTTL', KEYS[1]) end
return -1
