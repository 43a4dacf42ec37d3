-- Start a rebuild. KEYS: marker, exten_aside, alias_aside, disabled_aside, touched.
-- ARGV: token, ttl seconds. Returns 0 when another rebuild of the domain holds the marker.
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 1
