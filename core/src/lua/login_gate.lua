-- Before a password check: may this attempt go ahead, and what is stored for the account?
-- The same commands run whether or not the email is registered (an unknown email reads the
-- missing hash `ea:u:`), so neither the work nor the time of a sign-in tells the two apart.
-- KEYS: lock hash of this (account, address or device), address failure counter, account
--       failure counter, address success counter, account success counter, email index.
-- ARGV: now (s), address failure budget, account failure budget, address success budget,
--       account success budget, '1' for a known device (only its own lock applies to it),
--       user key prefix.
-- Reply: {retry_after_secs, user id or '', pw, pwv, username, email, created_at, ev, totp};
--        retry_after 0 means go ahead.
local now = tonumber(ARGV[1])
local retry = 0
local locked_until = tonumber(redis.call('HGET', KEYS[1], 'locked_until') or '0')
if locked_until > now then retry = locked_until - now end
local function over(key, budget)
  local n = tonumber(redis.call('GET', key) or '0')
  if n < tonumber(budget) then return 0 end
  return math.max(redis.call('TTL', key), 1)
end
local failures = math.max(over(KEYS[2], ARGV[2]), over(KEYS[3], ARGV[3]))
if ARGV[6] ~= '1' then retry = math.max(retry, failures) end
retry = math.max(retry, over(KEYS[4], ARGV[4]), over(KEYS[5], ARGV[5]))
local uid = redis.call('GET', KEYS[6]) or ''
local u = redis.call('HMGET', ARGV[7] .. uid, 'pw', 'pwv', 'username', 'email', 'created_at', 'ev',
  'totp')
return {retry, uid, u[1], u[2], u[3], u[4], u[5], u[6], u[7]}
