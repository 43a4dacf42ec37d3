-- Writes by the API, repairs and template re-mirrors.
-- KEYS: exten, alias, disabled, marker, exten_aside, alias_aside, disabled_aside, touched, seq
-- ARGV: expected seq ('' = unconditional), then op, name, json, alias repeated.
-- Returns the number of ops applied, or -1 when the seq moved (a concurrent write: retry).
if ARGV[1] ~= '' and (redis.call('GET', KEYS[9]) or '0') ~= ARGV[1] then return -1 end
local rebuilding = redis.call('EXISTS', KEYS[4]) == 1
local n = 0
local feed_e, feed_a = {}, {}  -- replica feed
for i = 2, #ARGV, 4 do
  local op, name, json, alias = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  feed_touch(feed_e, feed_a, KEYS[1], name, alias)  -- replica feed
  apply(KEYS[1], KEYS[2], KEYS[3], op, name, json, alias)
  if rebuilding then
    apply(KEYS[5], KEYS[6], KEYS[7], op, name, json, alias)
    redis.call('SADD', KEYS[8], name)
  end
  n = n + 1
end
redis.call('INCR', KEYS[9])
if n > 0 then feed_add('w', {'x', KEYS[1], 'e', cjson.encode(feed_e), 'a', cjson.encode(feed_a)}) end  -- replica feed
return n
