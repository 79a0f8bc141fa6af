-- A fixed-window budget. KEYS: counter. ARGV: budget, window secs.
-- Reply: 0 if within budget, else seconds until the window ends.
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  local ttl = redis.call('TTL', KEYS[1])
  if ttl < 1 then ttl = 1 end
  return ttl
end
return 0
