-- One batch of a rebuild into the aside keys; names a writer touched meanwhile are skipped
-- (the writer already put its newer value, or its delete, in the aside copy).
-- KEYS: marker, exten_aside, alias_aside, disabled_aside, touched.
-- ARGV: token, ttl, then name, json ('' = disabled), alias repeated. Returns -1 if the marker is lost.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
local n = 0
for i = 3, #ARGV, 3 do
  local name, json, alias = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('SISMEMBER', KEYS[5], name) == 0 then
    if json == '' then
      redis.call('SADD', KEYS[4], name)
    else
      redis.call('HSET', KEYS[2], name, json)
      index(KEYS[3], name, alias)
    end
    n = n + 1
  end
end
return n
