-- A reset or verification link asked for by address (no sign-in): spends the client address's
-- budget and the email's, then issues the token and queues the mail iff the account exists (and,
-- for verification, is not verified yet). Known and unknown emails cost the same commands up to
-- the lookup, and the caller answers them alike.
-- KEYS: address budget, email budget, email index.
-- ARGV: [1] address max, [2] address window s, [3] email max, [4] email window s, [5] purpose
-- (`reset` or `verify`), [6] user prefix, [7] pointer prefix (`ea:ut:{purpose}:`), token block
-- at 8, mail block at 12 (its JSON's `to` and `username` are filled in here).
-- Reply: {'limited', retry after s} (address budget), {'quiet'} (email budget: nothing sent),
-- {'unknown'}, {'skipped'} (already verified) or {'queued'}.
local function spend(key, max, window)
  local n = redis.call('INCR', key)
  if n == 1 then redis.call('EXPIRE', key, window) end
  if n > tonumber(max) then return math.max(redis.call('TTL', key), 1) end
  return 0
end
local wait = spend(KEYS[1], ARGV[1], ARGV[2])
if wait > 0 then return {'limited', wait} end
if spend(KEYS[2], ARGV[3], ARGV[4]) > 0 then return {'quiet'} end
local uid = redis.call('GET', KEYS[3])
if not uid then return {'unknown'} end
local u = redis.call('HMGET', ARGV[6] .. uid, 'email', 'username', 'ev')
if not u[1] then return {'unknown'} end
if ARGV[5] == 'verify' and u[3] == '1' then return {'skipped'} end
issue_token(8, ARGV[7] .. uid, ARGV[5], uid, u[1])
enqueue(12, addressed(12, u[1], u[2] or ''))
return {'queued'}
