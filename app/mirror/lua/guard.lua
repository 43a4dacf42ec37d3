-- Redis data loss guard (issue 9 §3, docs/redis-loss.md), run first by every mirror write, in
-- the same script as the write so nothing can come in between. A write must not land in a
-- Redis that lost its data (GUIs would read one extension as if it were the whole domain),
-- nor in a domain a heal has not rebuilt yet: the heal rebuilds from SQL, which already holds
-- the change (writers commit before they mirror), so it carries it. The caller's KEYS end with
-- the generation marker (keys.generation) and the domain's mirror generation
-- (keys.mirror_generation); `marker` is the domain's rebuild marker.
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
