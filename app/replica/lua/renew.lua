-- A replica renews its lease. KEYS: epoch, lease, hosts, counter. ARGV: epoch token, applied
-- feed number, lease ms. Returns {-1} when the epoch is not the one the replica filled under
-- (Redis lost its data: refill), else {counter, 1 if the lease was still alive else 0}.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {-1, 0} end
local alive = redis.call('EXISTS', KEYS[2])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SADD', KEYS[3], KEYS[2])
return {tonumber(redis.call('GET', KEYS[4]) or '0'), alive}
