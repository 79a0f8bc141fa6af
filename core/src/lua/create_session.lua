-- Creates a session, indexes it under its user and revokes the user's oldest sessions beyond the
-- cap, unless the password changed since the caller verified it (then nothing happens). The
-- session starts with the user's roles (set_roles.lua keeps them in step afterwards) and
-- username (what the edge tells apps as `preferred_username`; usernames never change). Also
-- clears the login lock the caller just passed and counts the successful sign-in.
-- KEYS: session hash, user session index, user hash, login lock to clear, address success
--       counter, account success counter, and optionally the MFA ticket the sign-in finishes
--       (used up here: a ticket signs in once).
-- ARGV: uid, session id, created_at (s), ua, ip, refresh hash, abs_exp, ttl (s), index ttl (s),
--       password version read with the hash, session cap, session key prefix, created (ms),
--       address success window (s), account success window (s), amr (comma-separated),
--       auth_time (s).
-- Reply: {'ok', sessions revoked by the cap} or {'stale'} (also when the ticket was used).
if KEYS[7] and redis.call('DEL', KEYS[7]) == 0 then return {'stale'} end
local user = redis.call('HMGET', KEYS[3], 'pw', 'pwv', 'roles', 'username')
if not user[1] or (user[2] or '0') ~= ARGV[10] then return {'stale'} end
session_index(KEYS[2], ARGV[12])
redis.call('HSET', KEYS[1], 'uid', ARGV[1], 'created_at', ARGV[3], 'last_used_at', ARGV[3],
  'ua', ARGV[4], 'ip', ARGV[5], 'gen', 0, 'rt', ARGV[6], 'rotated_at_ms', 0, 'abs_exp', ARGV[7],
  'roles', user[3] or '', 'name', user[4] or '', 'amr', ARGV[16], 'auth_time', ARGV[17])
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('ZADD', KEYS[2], ARGV[13], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[9])
local revoked = 0
local cap = tonumber(ARGV[11])
local excess = redis.call('ZCARD', KEYS[2]) - cap
if excess > 0 then
  -- Entries of sessions that already ended (expired, reused) must not take live ones' places.
  for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
    if redis.call('EXISTS', ARGV[12] .. sid) == 0 then redis.call('ZREM', KEYS[2], sid) end
  end
  excess = redis.call('ZCARD', KEYS[2]) - cap
end
if excess > 0 then
  local oldest = redis.call('ZPOPMIN', KEYS[2], excess)
  for i = 1, #oldest, 2 do revoked = revoked + redis.call('DEL', ARGV[12] .. oldest[i]) end
end
redis.call('DEL', KEYS[4])
local function count(key, window)
  if redis.call('INCR', key) == 1 then redis.call('EXPIRE', key, window) end
end
count(KEYS[5], ARGV[14])
count(KEYS[6], ARGV[15])
return {'ok', revoked}
