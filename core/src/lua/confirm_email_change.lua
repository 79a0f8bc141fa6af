-- Uses an email-change token: moves the account to the new address (checking again that no
-- account has it), marks it verified and queues the notice to the old address. Single use.
-- KEYS: token record, user hash, old address's email index, new address's email index, the
-- user's change-token pointer.
-- ARGV: [1] now (Unix s), [2] user id the token was read for, [3] old address as read,
-- mail block at 4.
-- Reply: 'ok', 'invalid' or 'taken'.
local t = live_token(KEYS[1], 'change_email', ARGV[1])
if not t or t.uid ~= ARGV[2] or redis.call('HGET', KEYS[2], 'email') ~= ARGV[3] then
  return 'invalid'
end
if redis.call('EXISTS', KEYS[4]) == 1 then return 'taken' end
redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[5])
redis.call('DEL', KEYS[3])
redis.call('SET', KEYS[4], ARGV[2])
redis.call('HSET', KEYS[2], 'email', t.email, 'ev', 1)
enqueue(4)
return 'ok'
