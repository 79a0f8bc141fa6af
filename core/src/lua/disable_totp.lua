-- Turns TOTP off: the secret, its last used step and every backup code go.
-- KEYS: user hash, backup code set.
-- Reply: 1 if TOTP was on, 0 if not.
local was = redis.call('HDEL', KEYS[1], 'totp', 'totp_step')
redis.call('DEL', KEYS[2])
return was > 0 and 1 or 0
