-- Writes by the API, repairs and template re-mirrors.
-- KEYS: exten, alias, disabled, marker, exten_aside, alias_aside, disabled_aside, touched, seq,
-- then the guard's two (generation, mirror generation: guard.lua) at 10 and 11.
-- ARGV: expected seq ('' = unconditional), then op, name, json, alias repeated.
-- Returns the number of ops applied, -1 when the seq moved (a concurrent write: retry), or the
-- guard's -2/-3 (nothing written). On the guard's 1 only the aside copy is written.
local guard = mirror_guard(KEYS[10], KEYS[11], KEYS[4])
if guard < 0 then return guard end
if ARGV[1] ~= '' and (redis.call('GET', KEYS[9]) or '0') ~= ARGV[1] then return -1 end
local rebuilding = redis.call('EXISTS', KEYS[4]) == 1
local n = 0
local feed_e, feed_a = {}, {}  -- replica feed
for i = 2, #ARGV, 4 do
  local op, name, json, alias = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  if guard == 0 then
    feed_touch(feed_e, feed_a, KEYS[1], name, alias)  -- replica feed
    apply(KEYS[1], KEYS[2], KEYS[3], op, name, json, alias)
  end
  if rebuilding then
    apply(KEYS[5], KEYS[6], KEYS[7], op, name, json, alias)
    redis.call('SADD', KEYS[8], name)
  end
  n = n + 1
end
redis.call('INCR', KEYS[9])
if n > 0 and guard == 0 then feed_add('w', {'x', KEYS[1], 'e', cjson.encode(feed_e), 'a', cjson.encode(feed_a)}) end  -- replica feed
return n
