-- Adds or removes one role of a user, in the user hash and in every live session hash at once,
-- so the edge's one per-request command (HMGET of the session's uid and roles) sees the change
-- on the user's next request.
-- KEYS: user hash, user session index.
-- ARGV: 'add' | 'remove' | 'list', role ('' for list), session key prefix, most roles allowed.
-- Reply: {'ok', roles field after the change} | {'no_user'} | {'too_many'}.
if redis.call('EXISTS', KEYS[1]) == 0 then return {'no_user'} end
local current = redis.call('HGET', KEYS[1], 'roles') or ''
if ARGV[1] == 'list' then return {'ok', current} end
local set, roles = {}, {}
for role in string.gmatch(current, '%S+') do set[role] = true end
if ARGV[1] == 'add' then set[ARGV[2]] = true else set[ARGV[2]] = nil end
for role in pairs(set) do roles[#roles + 1] = role end
if #roles > tonumber(ARGV[4]) then return {'too_many'} end
table.sort(roles)
local field = table.concat(roles, ' ')
redis.call('HSET', KEYS[1], 'roles', field)
session_index(KEYS[2], ARGV[3])
for _, sid in ipairs(redis.call('ZRANGE', KEYS[2], 0, -1)) do
  if redis.call('EXISTS', ARGV[3] .. sid) == 1 then
    redis.call('HSET', ARGV[3] .. sid, 'roles', field)
  end
end
return {'ok', field}
