-- Prepended to the scripts that need Redis 7.0 (publish.lua, exchange.lua): a clear
-- refusal on an older server rather than a failing XAUTOCLAIM or a missing XINFO field.
if (redis.REDIS_VERSION_NUM or 0) < 0x070000 then
  return redis.error_reply('the orders topic needs Redis 7.0 or later (XAUTOCLAIM and the XINFO fields it reads); this server is ' .. (redis.REDIS_VERSION or 'older than 7.0'))
end
