-- Deletes one session if it belongs to the given user.
-- KEYS: session hash, user session index. ARGV: uid, session id, session key prefix.
-- Reply: 1 if deleted, else 0.
if redis.call('HGET', KEYS[1], 'uid') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
session_index(KEYS[2], ARGV[3])
redis.call('ZREM', KEYS[2], ARGV[2])
return 1
