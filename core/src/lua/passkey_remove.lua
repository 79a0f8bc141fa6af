-- Removes a user's passkey and the index naming its owner.
-- KEYS: passkey hash of the user, owner index of the credential id.
-- ARGV: user id, credential id.
-- Reply: 1 if removed, 0 if the user had no such passkey.
if redis.call('HDEL', KEYS[1], ARGV[2]) == 0 then
  return 0
end
if redis.call('GET', KEYS[2]) == ARGV[1] then
  redis.call('DEL', KEYS[2])
end
return 1
