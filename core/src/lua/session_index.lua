-- Shared by every script that touches a user's session index (prepended to each).
-- The index is a sorted set of session ids scored by creation time (ms), never longer than the
-- per-user session cap, so no loop below runs more than cap + 1 times. An index written as a
-- plain set (before the cap existed) is converted on first touch.
local function session_index(index, prefix)
  if redis.call('TYPE', index)['ok'] == 'set' then
    local ids = redis.call('SMEMBERS', index)
    local ttl = redis.call('TTL', index)
    redis.call('DEL', index)
    for _, sid in ipairs(ids) do
      local created = redis.call('HGET', prefix .. sid, 'created_at')
      if created then redis.call('ZADD', index, tonumber(created) * 1000, sid) end
    end
    if ttl > 0 then redis.call('EXPIRE', index, ttl) end
  end
end

-- Deletes every indexed session except `keep` ('' keeps none); returns how many existed.
local function revoke_all(index, prefix, keep)
  local revoked = 0
  for _, sid in ipairs(redis.call('ZRANGE', index, 0, -1)) do
    if sid ~= keep then
      revoked = revoked + redis.call('DEL', prefix .. sid)
      redis.call('ZREM', index, sid)
    end
  end
  return revoked
end

