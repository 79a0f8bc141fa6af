-- Starts an email change: issues the confirmation token for the new address and queues the
-- confirmation (to the new address) and the notice (to the old one), unless the new address
-- belongs to an account or the account's address changed meanwhile.
-- KEYS: new address's email index, user hash, the user's change-token pointer.
-- ARGV: [1] user id, [2] current address as read, [3] new address, token block at 4,
-- confirmation mail block at 8, [14] notice message id, [15] notice JSON.
-- Reply: 'ok', 'taken' or 'stale'.
if redis.call('EXISTS', KEYS[1]) == 1 then return 'taken' end
if redis.call('HGET', KEYS[2], 'email') ~= ARGV[2] then return 'stale' end
issue_token(4, KEYS[3], 'change_email', ARGV[1], ARGV[3])
enqueue(8)
local notice = ARGV[8 + 4] .. ARGV[14]
redis.call('HSET', notice, 'm', ARGV[15], 'n', 0)
redis.call('EXPIRE', notice, ARGV[8 + 3])
redis.call('ZADD', ARGV[8 + 5], ARGV[8 + 2], ARGV[14])
return 'ok'
