-- A user's live sessions as the owner sees them, oldest first, in one step; index entries of
-- sessions that expired are dropped. The index never holds more than the session cap.
-- KEYS: user session index. ARGV: user id, session key prefix.
-- Reply: one {id, created_at, last_used_at, ua, ip} per live session.
session_index(KEYS[1], ARGV[2])
local out = {}
for _, sid in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local s = redis.call('HMGET', ARGV[2] .. sid, 'uid', 'created_at', 'last_used_at', 'ua', 'ip')
  if s[1] == ARGV[1] then
    out[#out + 1] = {sid, s[2] or '0', s[3] or '0', s[4] or '', s[5] or ''}
  else
    redis.call('ZREM', KEYS[1], sid)
  end
end
return out
