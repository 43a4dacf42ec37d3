-- The domain entry. KEYS: domains, marker, touched, seq. ARGV: domain, json, rebuild token or '',
-- expected seq or ''. A rebuild writes it only if it still owns the marker and no writer touched it.
if ARGV[3] ~= '' then
  if redis.call('GET', KEYS[2]) ~= ARGV[3] then return -1 end
  if redis.call('SISMEMBER', KEYS[3], '@domain') == 1 then return 0 end
else
  if ARGV[4] ~= '' and (redis.call('GET', KEYS[4]) or '0') ~= ARGV[4] then return -1 end
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SADD', KEYS[3], '@domain') end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
feed_add('d', {'dn', ARGV[1]})  -- replica feed
redis.call('INCR', KEYS[4])
return 1
