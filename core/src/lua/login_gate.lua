-- Before a password check: is this attempt allowed, and who is the account?
-- KEYS: pair lock hash (account+ip), ip failure counter, account failure counter,
--       email index.
-- ARGV: now (s), ip failure budget, account failure budget.
-- Reply: {retry_after_secs, user id or ''}; retry_after 0 means go ahead.
local now = tonumber(ARGV[1])
local locked_until = tonumber(redis.call('HGET', KEYS[1], 'locked_until') or '0')
local retry = 0
if locked_until > now then retry = locked_until - now end
local function over(key, budget)
  local n = tonumber(redis.call('GET', key) or '0')
  if n >= tonumber(budget) then
    local ttl = redis.call('TTL', key)
    if ttl < 1 then ttl = 1 end
    return ttl
  end
  return 0
end
retry = math.max(retry, over(KEYS[2], ARGV[2]), over(KEYS[3], ARGV[3]))
return {retry, redis.call('GET', KEYS[4]) or ''}
