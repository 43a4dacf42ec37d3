-- Redis data loss guard (issue 9 §3, docs/redis-loss.md), run first by every mirror write, in
-- the same script as the write so nothing can come in between. A write must not land in a
-- Redis that lost its data (GUIs would read one extension as if it were the whole domain),
-- nor in a domain a heal has not rebuilt yet: the heal rebuilds from SQL, which already holds
-- the change (writers commit before they mirror), so it carries it. Each script passes the
-- generation marker (keys.generation) and the domain's mirror generation
-- (keys.mirror_generation) at fixed KEYS positions right after its own keys (write_keys,
-- domain_keys, delete_keys in write.py: guard_keys); `marker` is the domain's rebuild marker.
-- Nothing else a script does (a change record, say) may happen when the guard says no.
-- Returns 0: write. 1: a heal of a loss is rebuilding this domain: write its aside copy only
-- (the live hash stays as the loss left it until the swap). -2: no marker, Redis lost its data
-- (the caller claims and queues the heal). -3: a heal of a loss runs and this domain's
-- rebuild has not started yet.
local function mirror_guard(gen, mine, marker)
  local g = redis.call('HMGET', gen, 'id', 'state', 'reason')
  if not g[1] then return -2 end
  if g[2] == 'healing' and g[3] == 'lost' and redis.call('GET', mine) ~= g[1] then
    if redis.call('EXISTS', marker) == 1 then return 1 end
    return -3
  end
  return 0
end
