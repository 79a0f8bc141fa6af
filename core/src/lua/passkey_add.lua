-- Adds a passkey to a user, unless the credential id is already someone's.
-- KEYS: user hash, passkey hash of the user, owner index of the credential id.
-- ARGV: user id, credential id, record JSON.
-- Reply: 'ok', 'gone' (no such user), or 'exists' (the credential id is registered).
if redis.call('EXISTS', KEYS[1]) == 0 then
  return 'gone'
end
if redis.call('SET', KEYS[3], ARGV[1], 'NX') == false then
  return 'exists'
end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return 'ok'
