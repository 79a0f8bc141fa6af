-- Claims due mails for delivery with a lease: each claimed mail's due time moves to the end of
-- the lease, so a sender that dies mid-delivery leaves it to be claimed again, and two senders
-- never hold one mail at once. Mails already sent or expired are dropped from the queue.
-- KEYS: outbox (sorted set: message id → due ms). ARGV: now ms, lease ms, batch size, mail prefix.
-- Reply: {queue depth, next due ms or '', id, mail JSON, attempt, id, mail JSON, attempt, ...}.
local now = tonumber(ARGV[1])
local out = {0, ''}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, ARGV[3])) do
  local key = ARGV[4] .. id
  local m = redis.call('HMGET', key, 'm', 'sent')
  if not m[1] or m[2] then
    redis.call('ZREM', KEYS[1], id)
  else
    local n = redis.call('HINCRBY', key, 'n', 1)
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), id)
    table.insert(out, id)
    table.insert(out, m[1])
    table.insert(out, n)
  end
end
out[1] = redis.call('ZCARD', KEYS[1])
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if first[2] then out[2] = first[2] end
return out
