if redis.call('EXISTS', KEYS[1]) == 1 then return 'email_taken' end
if redis.call('EXISTS', KEYS[2]) == 1 then return 'username_taken' end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('SET', KEYS[2], ARGV[1])
redis.call('HSET', KEYS[3], 'id', ARGV[1], 'username', ARGV[2], 'email', ARGV[3], 'pwv', 0,
  'pw', ARGV[4], 'created_at', ARGV[5])
return 'ok'
