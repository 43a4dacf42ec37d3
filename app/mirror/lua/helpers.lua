-- Shared helpers. `lc` folds ASCII case: FreeSWITCH matches user ids and aliases case-insensitively.
local function lc(s) return string.lower(s) end
local function alias_of(json)
  if not json then return nil end
  local ok, v = pcall(cjson.decode, json)
  if not ok or type(v) ~= 'table' or type(v['attribute']) ~= 'table' then return nil end
  local a = v['attribute']['number-alias']
  if a == nil or a == cjson.null or a == '' or type(a) == 'table' then return nil end
  return tostring(a)
end
local function unindex(al, key, name)
  if redis.call('HGET', al, key) == name then redis.call('HDEL', al, key) end
end
local function index(al, name, alias)
  if alias ~= '' and lc(alias) ~= name then redis.call('HSET', al, lc(alias), name) end
  if lc(name) ~= name then redis.call('HSET', al, lc(name), name) end
end
-- op U: enabled, value json; op D: disabled; op X: deleted (alias = an extra alias to unindex)
local function apply(ex, al, dis, op, name, json, alias)
  local old = redis.call('HGET', ex, name)
  local oa = alias_of(old)
  if oa then unindex(al, lc(oa), name) end
  if lc(name) ~= name then unindex(al, lc(name), name) end
  if op == 'U' then
    redis.call('HSET', ex, name, json)
    redis.call('SREM', dis, name)
    index(al, name, alias)
  else
    if alias ~= '' then unindex(al, lc(alias), name) end
    redis.call('HDEL', ex, name)
    if op == 'D' then redis.call('SADD', dis, name) else redis.call('SREM', dis, name) end
  end
end
