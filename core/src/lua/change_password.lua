-- Sets a new password hash, bumps the password version and revokes every other session in one
-- step, iff the version is still the one the current password was verified against. Session
-- creation checks the same version, so a sign-in racing this cannot leave a session behind.
-- KEYS: user hash, user session index, login lock to clear.
-- ARGV: new hash, password version read with the old hash, session to keep, session prefix,
-- then optionally the notice's mail block at 5.
-- Reply: {'ok', sessions revoked} or {'stale'}.
local user = redis.call('HMGET', KEYS[1], 'pw', 'pwv')
if not user[1] or (user[2] or '0') ~= ARGV[2] then return {'stale'} end
redis.call('HSET', KEYS[1], 'pw', ARGV[1])
redis.call('HINCRBY', KEYS[1], 'pwv', 1)
session_index(KEYS[2], ARGV[4])
local revoked = revoke_all(KEYS[2], ARGV[4], ARGV[3])
redis.call('DEL', KEYS[3])
if ARGV[5] then enqueue(5) end
return {'ok', revoked}
