-- Settles a delivery attempt. `sent`: marks the mail sent (a later claim drops it, so one event
-- is mailed once) and takes it off the queue. `retry`: due again at the given time. `dead`: given
-- up after the last attempt, moved to the dead-letter list.
-- KEYS: outbox, mail hash, dead-letter list.
-- ARGV: message id, outcome (`sent`, `retry` or `dead`), due ms (retry), last error, keep s.
-- Reply: 'ok'.
if ARGV[2] == 'sent' then
  redis.call('HSET', KEYS[2], 'sent', 1)
  redis.call('HDEL', KEYS[2], 'err')
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[5])
elseif ARGV[2] == 'retry' then
  if redis.call('EXISTS', KEYS[2]) == 1 then
    redis.call('HSET', KEYS[2], 'err', ARGV[4])
    redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
  end
else
  redis.call('HSET', KEYS[2], 'err', ARGV[4])
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('RPUSH', KEYS[3], ARGV[1])
end
return 'ok'
