-- fscti state script, part 7 (last): apply one batch of ops atomically, then recompute outputs.
-- Op kinds: c = channel event, r = registration event/snapshot row, j = bgapi job result,
-- n = node liveness (HEARTBEAT / Core-UUID), cs = calls snapshot, rs = registrations
-- snapshot, sw = expiry sweep.

-- Fencing (app/state/lease.py): a batch sent under a node's lease carries its token; it is
-- applied only while that token is still the node's fence (no newer owner took the node),
-- checked here, before anything is written, in the same atomic run. No fence at all means
-- Redis lost its data: accepted (the owner's next renewal writes its token back as the fence;
-- refusing would lose the events of that second while the heal resyncs).
if BATCH.fk then
  local fence = redis.call('GET', BATCH.fk)
  if fence and tonumber(fence) ~= tonumber(BATCH.tok) then
    return {0, 0, 0, 1, fence}
  end
end

local PER_OP_CALL = CFG.cc ~= '' or CFG.cl ~= ''
local PER_OP_REG = CFG.rc ~= '' or CFG.rl ~= ''
local applied, ignored = 0, 0

-- a snapshot split over several runs (ingest.MAX_OPS_PER_CALL): what an earlier run's `rs` op
-- kept where it is, for this run's rows
local KEPT_IN = BATCH.kept or {}
for i = 1, #KEPT_IN - 2, 3 do SNAP_KEPT[KEPT_IN[i]] = owner_ctx(KEPT_IN[i + 1], KEPT_IN[i + 2]) end

local OWNERS = BATCH.owners or {}
for i, o in ipairs(OWNERS) do OWNERS[i] = resolve_owner(o) end

for _, op in ipairs(BATCH.ops) do
  TOUCHED = {}
  if type(op.o) == 'number' then op.o = OWNERS[op.o + 1] end   -- owners are sent once a batch
  local k = op.k
  if op.core and op.st then see_core(op) end
  if k == 'c' then
    if merge_chan(op) then applied = applied + 1 else ignored = ignored + 1 end
  elseif k == 'r' then
    merge_reg(op)
    applied = applied + 1
  elseif k == 'j' then
    if redis.call('SET', op.seen, '1', 'NX', 'EX', op.ttl) then
      redis.call('RPUSH', op.key, op.v)
      redis.call('EXPIRE', op.key, op.ttl)
    end
    applied = applied + 1
  elseif k == 'n' then
    if op.ts then redis.call('HSET', NODE.ndk, 'heartbeat', op.ts) end
    applied = applied + 1
  elseif k == 'cs' then
    channel_snapshot(op)
  elseif k == 'rs' then
    registration_snapshot(op)
  elseif k == 'sw' then
    for _, m in ipairs(redis.call('ZRANGEBYSCORE', BATCH.nb, '-inf', NOW)) do
      local ctx, _, _, legacy = parse_member(m)
      if legacy then redis.call('ZREM', BATCH.nb, m) end    -- the recompute re-adds it
      dirty_reg(ctx)
    end
  end
  -- with a pub/sub channel or list configured, every change is pushed as it happens
  if PER_OP_CALL or PER_OP_REG then
    for id, kind in pairs(TOUCHED) do
      if kind == 'c' and PER_OP_CALL then recompute_call(CTXS[id]) end
      if kind == 'r' and PER_OP_REG then recompute_reg(CTXS[id]) end
    end
  end
end

for id, _ in pairs(CTXS) do recompute(id) end

publish_console_feed()

-- write back the canonical records
for key, _ in pairs(CHD) do
  local rec = CH[key]
  local v = cjson.encode(rec)
  if rec.hs or rec.o == nil then
    redis.call('SET', key, v, 'EX', TTL)
  else
    redis.call('SET', key, v)
  end
  if rec.o and not rec.hs then
    redis.call('ZADD', NODE.nk, rec.ets, rec.u)
  else
    redis.call('ZREM', NODE.nk, rec.u)
  end
end
for _, h in pairs(HX) do
  if h.dirty then
    local R = h.rec
    local empty
    if R.b then
      empty = next(R.b) == nil and next(R.top) == nil and next(R.wipe) == nil and next(R.dc) == nil
    else
      empty = next(R.live) == nil and R.lh == nil and R.pv == nil
    end
    if empty then redis.call('HDEL', h.key, h.field)
    else redis.call('HSET', h.key, h.field, cjson.encode(R)) end
  end
end
if NODE.dirty then redis.call('HSET', NODE.ndk, 'core', NODE.core, 'cst', NODE.cst) end
if #BATCH.ops > 0 then
  redis.call('HSET', NODE.ndk, 'seen', NOW)
  redis.call('SADD', BATCH.nodes, NODE.name)
end
-- clock offset (FreeSWITCH minus ours, µs): exact from strmicroepoch (offx); from events a
-- sample is (created - received) <= the true offset, so keep the largest of the last minute
if BATCH.off then
  local at = BATCH.lnow or NOW
  local cur = redis.call('HMGET', NODE.ndk, 'offset', 'offset_at')
  if BATCH.offx or not cur[1] or tonumber(BATCH.off) > tonumber(cur[1])
      or tonumber(at) - (tonumber(cur[2]) or 0) > 60000000 then
    redis.call('HSET', NODE.ndk, 'offset', BATCH.off, 'offset_at', at)
  end
end
return {applied, ignored, STATS.gone, 0, 0, KEPT_OUT, MOVED_OUT}
