-- After a failed password check: count it everywhere, lock the pair when due.
-- KEYS: pair lock hash, ip failure counter, account failure counter.
-- ARGV: now, threshold, base lock, max lock, forget after, ip window, account window.
-- Reply: seconds the pair is now locked for (0 if not locked).
local now = tonumber(ARGV[1])
local function count(key, window)
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, window) end
end
count(KEYS[2], ARGV[6])
count(KEYS[3], ARGV[7])
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
local threshold = tonumber(ARGV[2])
if failures < threshold then return 0 end
local lock = math.min(tonumber(ARGV[3]) * 2 ^ math.min(failures - threshold, 32), tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'locked_until', now + lock)
return lock
