-- Uses a verification token: marks the address verified iff the token is live and the account
-- still has the address it was sent to. Single use.
-- KEYS: token record. ARGV: now (Unix s), user prefix, pointer prefix (`ea:ut:verify:`).
-- Reply: 'ok' or 'invalid'.
local t = live_token(KEYS[1], 'verify', ARGV[1])
if not t then return 'invalid' end
redis.call('DEL', KEYS[1])
local user = ARGV[2] .. t.uid
if redis.call('HGET', user, 'email') ~= t.email then return 'invalid' end
redis.call('HSET', user, 'ev', 1)
redis.call('DEL', ARGV[3] .. t.uid)
return 'ok'
