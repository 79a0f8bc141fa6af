-- Turns TOTP on: the enrolment's pending secret becomes the account's, its first code's time
-- step counts as used, and the backup codes (hashes only) replace any earlier ones.
-- KEYS: user hash, pending secret, backup code set.
-- ARGV: the pending sealed secret the code was checked against, the code's time step, then
--       the backup code hashes.
-- Reply: 'ok', 'gone' (no such pending enrolment any more, or no account) or 'exists' (TOTP
--        is already on).
if redis.call('GET', KEYS[2]) ~= ARGV[1] or redis.call('EXISTS', KEYS[1]) == 0 then
  return 'gone'
end
if redis.call('HEXISTS', KEYS[1], 'totp') == 1 then return 'exists' end
redis.call('HSET', KEYS[1], 'totp', ARGV[1], 'totp_step', ARGV[2])
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('SADD', KEYS[3], unpack(ARGV, 3))
return 'ok'
