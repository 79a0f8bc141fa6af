-- Uses a reset token: sets the new password hash, bumps the password version, revokes every
-- session of the user, invalidates every other reset token and queues the notice, in one step.
-- KEYS: token record, user hash, user session index, the user's reset-token pointer.
-- ARGV: [1] now (Unix s), [2] user id the token was read for, [3] new hash, [4] session prefix,
-- mail block at 5.
-- Reply: {'ok', sessions revoked} or {'invalid'}.
local t = live_token(KEYS[1], 'reset', ARGV[1])
if not t or t.uid ~= ARGV[2] or redis.call('EXISTS', KEYS[2]) == 0 then return {'invalid'} end
redis.call('DEL', KEYS[1])
redis.call('DEL', KEYS[4])
redis.call('HSET', KEYS[2], 'pw', ARGV[3])
redis.call('HINCRBY', KEYS[2], 'pwv', 1)
-- The link reached the account's mailbox: that proves the address, as a verification does.
if redis.call('HGET', KEYS[2], 'email') == t.email then redis.call('HSET', KEYS[2], 'ev', 1) end
session_index(KEYS[3], ARGV[4])
local revoked = revoke_all(KEYS[3], ARGV[4], '')
enqueue(5)
return {'ok', revoked}
