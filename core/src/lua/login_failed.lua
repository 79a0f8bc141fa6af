-- After a failed password check: count it, lock the (account, address or device) when due.
-- A known device's failures lock only that device: they never count toward the address and
-- account budgets, so its owner's typos cannot lock anyone else out either.
-- KEYS: lock hash, address failure counter, account failure counter.
-- ARGV: now, threshold, base lock, max lock, forget after, address window, account window,
--       '1' for a known device.
-- Reply: seconds the lock now lasts (0 if not locked).
local now = tonumber(ARGV[1])
local function count(key, window)
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, window) end
end
if ARGV[8] ~= '1' then
  count(KEYS[2], ARGV[6])
  count(KEYS[3], ARGV[7])
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
redis.call('EXPIRE', KEYS[1], ARGV[5])
local threshold = tonumber(ARGV[2])
if failures < threshold then return 0 end
local lock = math.min(tonumber(ARGV[3]) * 2 ^ math.min(failures - threshold, 32), tonumber(ARGV[4]))
redis.call('HSET', KEYS[1], 'locked_until', now + lock)
return lock
