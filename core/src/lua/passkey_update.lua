-- Replaces a passkey's record while the passkey still exists (a concurrent removal wins).
-- KEYS: passkey hash of the user.
-- ARGV: credential id, record JSON.
-- Reply: 1 if replaced, 0 if the passkey is gone.
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
return 1
