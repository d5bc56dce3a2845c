-- Moves a group's dead letters back onto the topic, marked for that group only, and
-- rings that group's doorbell if its bell is free.
-- KEYS: stream, dead-letter stream, the group's wake key. ARGV: group, doorbell channel,
-- lease ms. Entries without an envelope stay. Returns how many moved, and 1 when it
-- took the bell (with channel '', the caller then rings over HTTP).
local stream, dead, wake = KEYS[1], KEYS[2], KEYS[3]
local group, channel, lease = ARGV[1], ARGV[2], tonumber(ARGV[3])
local moved = 0
for _, entry in ipairs(redis.call('XRANGE', dead, '-', '+')) do
  local envelope
  for j = 1, #entry[2], 2 do
    if entry[2][j] == 'e' and entry[2][j + 1] ~= '' then envelope = entry[2][j + 1] end
  end
  if envelope then
    redis.call('XADD', stream, '*', 'e', envelope, 'only', group)
    redis.call('XDEL', dead, entry[1])
    moved = moved + 1
  end
end
if moved > 0 and redis.call('GET', wake) ~= 'bell' then
  redis.call('SET', wake, 'bell', 'PX', lease)
  if channel ~= '' then redis.call('PUBLISH', channel, group) end
  return {moved, 1}
end
return {moved, 0}
