-- A step-up (POST /api/reauthenticate): the session's assurance becomes the fresh one, and its
-- refresh chain starts over with a new first token (tokens of the old chain are then merely
-- invalid), so the new pair carries the new assurance from now on.
-- KEYS: session hash.
-- ARGV: uid, amr, auth_time, SHA-256 of the new first refresh token, now (s).
-- Reply: {'ok', abs_exp, roles} or {'gone'} (no such session of this user).
local s = redis.call('HMGET', KEYS[1], 'uid', 'abs_exp', 'roles')
if s[1] ~= ARGV[1] or not s[2] then return {'gone'} end
redis.call('HSET', KEYS[1], 'amr', ARGV[2], 'auth_time', ARGV[3], 'gen', 0, 'rt', ARGV[4],
  'rotated_at_ms', 0, 'last_used_at', ARGV[5])
return {'ok', s[2], s[3] or ''}
