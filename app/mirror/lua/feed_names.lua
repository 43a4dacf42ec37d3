-- The replica feed of the WRITE script: the names and alias-index fields one op can change,
-- read before it applies (the old alias is only known then).
local function feed_touch(e, a, ex, name, alias)
  e[#e + 1] = name
  local oa = alias_of(redis.call('HGET', ex, name))
  if oa then a[#a + 1] = lc(oa) end
  a[#a + 1] = lc(name)
  if alias ~= '' then a[#a + 1] = lc(alias) end
end
