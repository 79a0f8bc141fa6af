-- Creates a user iff neither the email nor the username is taken (case-insensitively), and
-- queues the verification mail in the same step.
-- KEYS: email index, username index, user hash, the user's verify-token pointer.
-- ARGV: id, username, email, pw hash, created_at; [6] '1' to queue a verification mail, then
-- the token block at 7 and the mail block at 11.
-- Reply: `ok`, `email_taken` or `username_taken`.
if redis.call('EXISTS', KEYS[1]) == 1 then return 'email_taken' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'username_taken' end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], 'id', ARGV[1], 'username', ARGV[2], 'email', ARGV[3], 'pwv', 0,
  'pw', ARGV[4], 'created_at', ARGV[5], 'ev', 0)
if ARGV[6] == '1' then
  issue_token(7, KEYS[4], 'verify', ARGV[1], ARGV[3])
  enqueue(11)
end
return 'ok'
