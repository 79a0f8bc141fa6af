-- Accepts a TOTP code's time step at most once: the step must be later than the last one used,
-- and the secret it was checked against must still be the account's (not disabled or replaced
-- meanwhile).
-- KEYS: user hash.
-- ARGV: the sealed secret the code was checked against, its time step.
-- Reply: 'ok', 'replayed' (this step or a later one was already used) or 'gone'.
local t = redis.call('HMGET', KEYS[1], 'totp', 'totp_step')
if t[1] ~= ARGV[1] then return 'gone' end
if tonumber(t[2] or '-1') >= tonumber(ARGV[2]) then return 'replayed' end
redis.call('HSET', KEYS[1], 'totp_step', ARGV[2])
return 'ok'
