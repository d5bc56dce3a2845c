-- Appends an order envelope to the topic and rings the doorbell, atomically.
-- KEYS[1] stream; ARGV[1] envelope, ARGV[2] doorbell channel, ARGV[3..] consumer groups.
-- The first append creates the stream with every group at its start, so no entry can
-- be trimmed before a group that has not run yet has seen it.
local stream = KEYS[1]
if redis.call('EXISTS', stream) == 0 then
  for i = 3, #ARGV do
    redis.call('XGROUP', 'CREATE', stream, ARGV[i], '0', 'MKSTREAM')
  end
end
local id = redis.call('XADD', stream, '*', 'e', ARGV[1])
redis.call('PUBLISH', ARGV[2], id)
return id
