-- fscti state script, part 4: the `gui.registration` output (SPEC §2-§3), recomputed from an
-- extension's registration record; keeps the node bindings set (keys.node_bindings) in step.

local function alive(R, bid, B)
  if B.rs == nil then return false end
  if B.ds and not gt(B.rs, B.ds) then return false end
  if not gt(B.exp, NOW) then return false end        -- FreeSWITCH's stored expiry passed
  if R.m[B.np] then
    local c = B.contact and R.dc[B.contact]
    if c and not gt(B.rs, c) then return false end
  else
    -- multiple-registrations off: the newest register of the user on the profile replaced
    -- the others silently, and an unregister removes every binding of the user (facts §4.3);
    -- the user is the name registered as (B.us when not the extension, see merge_reg)
    local us = B.us or B.np
    local top = R.top[us]
    if top and top[2] ~= bid then return false end
    local w = R.wipe[us]
    if w and not gt(B.rs, w) then return false end
  end
  return true
end

local function live_bindings(R)
  local binds = {}
  for bid, B in pairs(R.b) do
    if alive(R, bid, B) then binds[#binds + 1] = {bid = bid, B = B} end
  end
  table.sort(binds, function(a, b)
    if a.B.rs ~= b.B.rs then return gt(a.B.rs, b.B.rs) end
    return a.bid > b.bid
  end)
  return binds
end

-- Forget bindings dead for longer than the tombstone TTL, and per-profile marks with them.
local function gc_reg(ctx, h)
  local R = h.rec
  local nps = {}
  for bid, B in pairs(R.b) do
    if B.nb then B.nb = nil; h.dirty = true end    -- a key name older records kept
    if not alive(R, bid, B) then
      local last = B.rs
      if gt(B.ds, last) then last = B.ds end
      if last == nil or gt(CUT, last) then
        R.b[bid] = nil
        redis.call('ZREM', bindings_key(B.np), binding_member(ctx, bid))
        redis.call('HDEL', ctx.rg, ev_field(ctx, bid, 'ev'), ev_field(ctx, bid, 'dev'))
        h.dirty = true
      end
    end
  end
  for _, B in pairs(R.b) do
    nps[B.np] = true
    if B.us then nps[B.us] = true end
  end
  for _, tbl in ipairs({R.top, R.wipe, R.m}) do
    for np, v in pairs(tbl) do
      local st = v
      if type(v) == 'table' then st = v[1] end
      if not nps[np] and (type(v) == 'boolean' or gt(CUT, st)) then tbl[np] = nil; h.dirty = true end
    end
  end
  for c, st in pairs(R.dc) do
    if gt(CUT, st) then R.dc[c] = nil; h.dirty = true end
  end
end

local function removal_message(ctx, R)
  local best
  for bid, B in pairs(R.b) do
    if B.ds and (best == nil or gt(B.ds, best.ds)) then best = {bid = bid, ds = B.ds, dwhy = B.dwhy} end
  end
  if best and best.dwhy ~= 'gone' then
    local text = redis.call('HGET', ctx.rg, ev_field(ctx, best.bid, 'dev'))
    if text then return text end
  end
  local reason = 'expired'
  if best and best.dwhy == 'gone' then reason = 'resync' end
  return unslash(enc_obj({['Event-Name'] = 'CUSTOM', ['Event-Subclass'] = 'sofia::expire',
                          user = ctx.x, username = ctx.x, host = ctx.d,
                          ['fscti-reason'] = reason},
                         {'Event-Name', 'Event-Subclass', 'user', 'username', 'host'}))
end

local function recompute_reg(ctx)
  local h = xreg(ctx)
  gc_reg(ctx, h)
  local R = h.rec
  local binds = live_bindings(R)
  local alive_set = {}
  for _, e in ipairs(binds) do
    alive_set[e.bid] = true
    redis.call('ZADD', bindings_key(e.B.np), e.B.exp, binding_member(ctx, e.bid))
  end
  for bid, B in pairs(R.b) do
    if not alive_set[bid] then redis.call('ZREM', bindings_key(B.np), binding_member(ctx, bid)) end
  end
  local sig = ''
  if #binds > 0 then sig = binds[1].bid .. '|' .. binds[1].B.rs .. '|' .. (binds[1].B.evs or '') end
  local changed = sig ~= (R.pub or '')
  local ev
  if #binds > 0 and (changed or CFG.rh ~= '') then
    ev = redis.call('HGET', ctx.rg, ev_field(ctx, binds[1].bid, 'ev')) or '{}'
  end
  if CFG.rh ~= '' then
    if ev then redis.call('HSET', CFG.rh, ctx.x, ev)
    elseif changed then redis.call('HDEL', CFG.rh, ctx.x) end
  end
  if changed then
    R.pub = sig
    h.dirty = true
    if ev then publish(CFG.rc, CFG.rl, CFG.rmax, ev)
    else publish(CFG.rc, CFG.rl, CFG.rmax, removal_message(ctx, R)) end
  end
  return binds
end
