-- Shared by every script that issues email link tokens or queues mail (prepended to each).
--
-- A token record `ea:et:{sha256(token)}` holds the link's purpose (p), user (uid), the address
-- it was sent to (email) and its expiry (exp, Unix s); the user's pointer `ea:ut:{purpose}:{uid}`
-- names the newest one, and issuing a new token deletes the record it named, so only the newest
-- link of a purpose works. The token itself is never here: the mail sender derives it from the
-- message id with a key only the origin holds.
--
-- Argument blocks (each script says where they start):
--   token block: record prefix, token hash, expiry (Unix s), ttl (s)
--   mail block:  message id, mail JSON, now (ms), retention (s), mail prefix, outbox key

local function issue_token(at, pointer, purpose, uid, email)
  local prefix, hash = ARGV[at], ARGV[at + 1]
  local old = redis.call('GET', pointer)
  if old then redis.call('DEL', prefix .. old) end
  redis.call('HSET', prefix .. hash, 'p', purpose, 'uid', uid, 'email', email, 'exp', ARGV[at + 2])
  redis.call('EXPIRE', prefix .. hash, ARGV[at + 3])
  redis.call('SET', pointer, hash, 'EX', ARGV[at + 3])
end

-- Queues the mail of the block at `at` (its JSON replaced by `json` if given), due at once.
local function enqueue(at, json)
  local key = ARGV[at + 4] .. ARGV[at]
  redis.call('HSET', key, 'm', json or ARGV[at + 1], 'n', 0)
  redis.call('EXPIRE', key, ARGV[at + 3])
  redis.call('ZADD', ARGV[at + 5], ARGV[at + 2], ARGV[at])
end

-- The block's mail JSON with the recipient and user name filled in.
local function addressed(at, to, username)
  local mail = cjson.decode(ARGV[at + 1])
  mail['to'] = to
  mail['username'] = username
  return cjson.encode(mail)
end

-- The live record at `key` if it is for `purpose` and not expired at `now` (Unix s), else nil.
local function live_token(key, purpose, now)
  local r = redis.call('HMGET', key, 'p', 'uid', 'email', 'exp')
  if not r[1] or r[1] ~= purpose or tonumber(r[4] or '0') <= tonumber(now) then return nil end
  return {uid = r[2], email = r[3]}
end
