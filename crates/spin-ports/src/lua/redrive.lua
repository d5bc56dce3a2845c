-- Moves a group's dead letters back onto the topic, marked for that group only, and
-- rings the doorbell. KEYS: stream, dead-letter stream. ARGV: group, doorbell channel.
-- Entries without an envelope stay. Returns how many moved.
local stream, dead, group, channel = KEYS[1], KEYS[2], ARGV[1], ARGV[2]
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
if moved > 0 then redis.call('PUBLISH', channel, 'redrive') end
return moved
