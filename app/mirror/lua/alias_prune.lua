-- Drop alias index entries that no longer point at an extension carrying that alias or name.
-- KEYS: exten, alias. ARGV: alias index fields to check. Returns the removed fields.
local removed = {}
for i = 1, #ARGV do
  local key = ARGV[i]
  local name = redis.call('HGET', KEYS[2], key)
  if name then
    local json = redis.call('HGET', KEYS[1], name)
    local a = alias_of(json)
    local ok = json and ((a and lc(a) == key) or (lc(name) == key and name ~= key))
    if not ok then
      redis.call('HDEL', KEYS[2], key)
      removed[#removed + 1] = key
    end
  end
end
if #removed > 0 then feed_add('w', {'x', KEYS[1], 'a', cjson.encode(removed)}) end  -- replica feed
return removed
