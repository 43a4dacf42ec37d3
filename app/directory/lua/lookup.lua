-- The hot path, one round trip. KEYS: domains, exten, alias, disabled, generation marker,
-- the domain's mirror generation.
-- ARGV: domain, user ('' = domain only), mode ('alias' = only by number-alias).
-- Returns {0} unknown domain, {1, domain} domain only, {2, domain, name, user} found,
-- {3, domain} disabled, {4, domain} user not in the mirror, {5} the mirror of this domain is not
-- complete: Redis lost its data and the heal has not rebuilt the domain yet (the mirror's
-- writers leave their changes to that rebuild: app/mirror/lua/guard.lua), so only SQL knows.
local st = redis.call('HGET', KEYS[5], 'state')
if st ~= 'ok' then
  local g = redis.call('HMGET', KEYS[5], 'id', 'reason')
  if not g[1] or (st == 'healing' and g[2] == 'lost' and redis.call('GET', KEYS[6]) ~= g[1]) then
    return {5}
  end
end
local d = redis.call('HGET', KEYS[1], ARGV[1])
if not d then return {0} end
local name = ARGV[2]
if name == '' then return {1, d} end
local u = false
if ARGV[3] ~= 'alias' then u = redis.call('HGET', KEYS[2], name) end
if not u then
  local l = string.lower(name)
  local n = redis.call('HGET', KEYS[3], l)
  if n then
    u = redis.call('HGET', KEYS[2], n)
    if u then name = n end
  elseif l ~= name and ARGV[3] ~= 'alias' then
    u = redis.call('HGET', KEYS[2], l)
    if u then name = l end
  end
end
if u then return {2, d, name, u} end
if ARGV[3] ~= 'alias' and redis.call('SISMEMBER', KEYS[4], name) == 1 then return {3, d} end
return {4, d}
