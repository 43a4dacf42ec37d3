-- Remove a domain and all it mirrors; a rebuild in progress loses its marker and aborts.
-- KEYS: domains, exten, alias, disabled, marker, exten_aside, alias_aside, disabled_aside,
-- touched, seq, then the guard's two (guard.lua) at 11 and 12. ARGV: domain, expected seq or ''.
-- The guard's -2/-3: nothing mirrored to delete yet; the heal's rebuild finds the domain gone.
local guard = mirror_guard(KEYS[11], KEYS[12], KEYS[5])
if guard < 0 then return guard end
if ARGV[2] ~= '' and (redis.call('GET', KEYS[10]) or '0') ~= ARGV[2] then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9])
redis.call('INCR', KEYS[10])
feed_add('X', {'dn', ARGV[1]})  -- replica feed
return 1
