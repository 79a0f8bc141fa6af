-- KEYS: session hash, refresh budget counter of the client address, and optionally the edge
--       request's nonce key (when the origin left the nonce for this script to claim, in the
--       same round trip: docs/performance.md).
-- ARGV: presented generation, SHA-256 of the presented token, SHA-256 of its successor,
--       now (ms), grace window (ms), idle lifetime (s), user agent, client ip,
--       refresh budget, budget window (s), recovery window (ms), user key prefix,
--       nonce lifetime (s).
-- Replies:
--   {'replayed'}               the nonce was already claimed: nothing was read or changed
--   {'limited', retry_after}   the client address used up its refresh budget
--   {'rotated', uid, abs_exp, roles, amr, auth_time, field, value, ...}
--                              the presented token was current; its successor is now current;
--                              roles: the session's roles field ('' if none); amr and
--                              auth_time: the session's assurance ('' if none); then the user's
--                              record (HGETALL of the user hash, empty if the account is gone)
--   {'grace', uid, abs_exp, roles, amr, auth_time, field, value, ...}
--                              the presented token is the predecessor of the current one, and
--                              that successor is still unused (it would have rotated otherwise),
--                              within the grace window (racing tabs) or the recovery window (a
--                              lost response): hand out that successor again, revoke nothing
--   {'reused', uid}            a rotated token came back after both windows: session deleted
--   {'check', gen, rt}         an older generation: the caller proves ancestry, then revokes
--   {'invalid'}                no such session, or the token matches nothing
if KEYS[3] and not redis.call('SET', KEYS[3], '1', 'NX', 'EX', ARGV[13]) then
  return {'replayed'}
end
-- The reply with the user's record appended.
local function with_user(reply, uid)
  local fields = redis.call('HGETALL', ARGV[12] .. uid)
  for i = 1, #fields do reply[#reply + 1] = fields[i] end
  return reply
end
local used = redis.call('INCR', KEYS[2])
if used == 1 then redis.call('EXPIRE', KEYS[2], ARGV[10]) end
if used > tonumber(ARGV[9]) then
  return {'limited', tostring(math.max(redis.call('TTL', KEYS[2]), 1))}
end
local s = redis.call('HMGET', KEYS[1], 'uid', 'gen', 'rt', 'rotated_at_ms', 'abs_exp', 'roles',
  'amr', 'auth_time')
local uid, gen, rt, rotated_at, abs_exp = s[1], tonumber(s[2]), s[3], tonumber(s[4]), tonumber(s[5])
local roles, amr, auth_time = s[6] or '', s[7] or '', s[8] or ''
if not uid or not gen then return {'invalid'} end
local presented_gen = tonumber(ARGV[1])
local now_ms = tonumber(ARGV[4])
local remaining = abs_exp - math.floor(now_ms / 1000)
if remaining <= 0 then
  redis.call('DEL', KEYS[1])
  return {'invalid'}
end
local ttl = math.min(tonumber(ARGV[6]), remaining)
if presented_gen == gen and ARGV[2] == rt then
  redis.call('HSET', KEYS[1], 'gen', gen + 1, 'rt', ARGV[3], 'rotated_at_ms', now_ms,
    'last_used_at', math.floor(now_ms / 1000), 'ua', ARGV[7], 'ip', ARGV[8])
  redis.call('EXPIRE', KEYS[1], ttl)
  return with_user({'rotated', uid, tostring(abs_exp), roles, amr, auth_time}, uid)
end
if presented_gen + 1 == gen and ARGV[3] == rt then
  if now_ms - rotated_at <= math.max(tonumber(ARGV[5]), tonumber(ARGV[11])) then
    return with_user({'grace', uid, tostring(abs_exp), roles, amr, auth_time}, uid)
  end
  redis.call('DEL', KEYS[1])
  return {'reused', uid}
end
if presented_gen + 1 < gen then
  return {'check', tostring(gen), rt}
end
return {'invalid'}
