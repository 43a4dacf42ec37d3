-- Remove a domain and all it mirrors; a rebuild in progress loses its marker and aborts.
-- KEYS: domains, exten, alias, disabled, marker, exten_aside, alias_aside, disabled_aside,
-- touched, seq. ARGV: domain, expected seq or ''.
if ARGV[2] ~= '' and (redis.call('GET', KEYS[10]) or '0') ~= ARGV[2] then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9])
redis.call('INCR', KEYS[10])
feed_add('X', {'dn', ARGV[1]})  -- replica feed
return 1
