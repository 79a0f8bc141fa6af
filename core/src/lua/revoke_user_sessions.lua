local revoked = 0
for _, sid in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if sid ~= ARGV[2] then
    revoked = revoked + redis.call('DEL', ARGV[1] .. sid)
    redis.call('SREM', KEYS[1], sid)
  end
end
return revoked
