redis.call('HSET', KEYS[1], 'uid', ARGV[1], 'created_at', ARGV[3], 'last_used_at', ARGV[3],
  'ua', ARGV[4], 'ip', ARGV[5], 'gen', 0, 'rt', ARGV[6], 'rotated_at_ms', 0, 'abs_exp', ARGV[7])
redis.call('EXPIRE', KEYS[1], ARGV[8])
redis.call('SADD', KEYS[2], ARGV[2])
redis.call('EXPIRE', KEYS[2], ARGV[9])
return 1
