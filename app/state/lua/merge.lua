-- fscti state script, part 2: merging ops into the canonical records.
-- Each merge is a join: times and stamps only grow, a hang-up is terminal, per-field values
-- are last-writer-wins by stamp. So the records (and the outputs recomputed from them) end
-- the same whatever the order or repetition of the ops.

local NODE = {name = BATCH.node, ndk = BATCH.ndk, nk = BATCH.nk, dirty = false}
do
  local h = redis.call('HMGET', NODE.ndk, 'core', 'cst')
  NODE.core = h[1] or nil
  NODE.cst = h[2] or nil
end

-- A channel is hung up in the state: leave the extension's live set; the newest hung-up
-- channel (by last stamp, then uuid) is kept as `lh` (SPEC: the last hung-up call stays).
-- What the outputs need of a hung-up leg (updates always start from the full record).
local function project(rec)
  local t, v = {}, {}
  for _, k in ipairs(CFG.fields) do
    if TIME_FIELD[k] then
      t[k] = rec.t[k]
    else
      v[k] = rec.f[k]
    end
  end
  return {u = rec.u, es = rec.es, ets = rec.ets, hs = rec.hs, lb = rec.lb, t = t, v = v}
end

local function touch_call(rec)
  local ctx = owner_ctx(rec.o.d, rec.o.x)
  local h = xcall(ctx)
  local X = h.rec
  if rec.hs then
    if X.live[rec.u] then
      X.live[rec.u] = nil
      h.dirty = true
    end
    local lh = X.lh
    if lh == nil or lh.u == rec.u or gt(rec.es, lh.es) or (rec.es == lh.es and rec.u > lh.u) then
      X.lh = project(rec)
      h.dirty = true
    end
  elseif not X.live[rec.u] then
    X.live[rec.u] = 1
    h.dirty = true
  end
  dirty_call(ctx)
end

-- A channel that is not of the node's current Core-UUID is gone (FreeSWITCH restarted).
local function kill(rec, key, why)
  if not rec.hs then rec.hs = rec.es end
  rec[why] = 1
  STATS.gone = STATS.gone + 1
  CH[key] = rec; CHD[key] = true
  if rec.o then touch_call(rec) end
end

local function switch_core(core, st)
  NODE.core, NODE.cst, NODE.dirty = core, st, true
  local members = redis.call('ZRANGE', NODE.nk, 0, -1)
  for _, u in ipairs(members) do
    local key = CFG.cp .. u
    local rec = chan(key)
    if rec == nil then
      redis.call('ZREM', NODE.nk, u)
    elseif rec.core ~= core and not rec.hs then
      kill(rec, key, 'pg')
    end
  end
end

-- Core-UUID: the core of the newest stamp is current; older cores' events are late.
local function see_core(op)
  if op.core == nil then return end
  if NODE.core == op.core then
    if gt(op.st, NODE.cst) then NODE.cst = op.st; NODE.dirty = true end
  elseif NODE.core == nil or gt(op.st, NODE.cst) then
    switch_core(op.core, op.st)
  end
end

local function detach(rec)
  local ctx = owner_ctx(rec.o.d, rec.o.x)
  local h = xcall(ctx)
  h.rec.live[rec.u] = nil
  if h.rec.lh and h.rec.lh.u == rec.u then h.rec.lh = nil end
  h.dirty = true
  dirty_call(ctx)
end

local function merge_chan(op)
  local key = CFG.cp .. op.u                      -- keys.channel(uuid)
  if op.dir and op.o and UNKNOWN_OWNER[op.o] then op.o = nil end   -- snapshots: directory users only
  local rec = chan(key)
  if rec == nil then
    if op.own and op.o == nil then return false end     -- a leg of no extension
    rec = {u = op.u, core = op.core, node = NODE.name, f = {}, fs = {}, t = {}, es = '', ets = ''}
  elseif op.snap then
    return false                                        -- events know better than a snapshot
  end
  if op.o and (rec.o == nil or gt(rec.os, op.st)) then
    if rec.o and (rec.o.d ~= op.o.d or rec.o.x ~= op.o.x) then detach(rec) end
    rec.o = {d = op.o.d, x = op.o.x}          -- the owner, not its key names (owner_ctx)
    rec.os = op.st
  end
  for k, v in pairs(op.f) do
    if gt(op.st, rec.fs[k]) then          -- f: value, fs: the stamp that set it
      rec.f[k] = v
      rec.fs[k] = op.st
    end
  end
  for k, v in pairs(op.t) do
    if gt(v, rec.t[k]) then rec.t[k] = v end
  end
  if op.lb ~= '' and gt(op.st, rec.ls) then rec.ls = op.st; rec.lb = op.lb end
  if op.term and gt(op.st, rec.hs) then rec.hs = op.st end
  if gt(op.st, rec.es) then rec.es = op.st; rec.ets = op.ts end
  if NODE.core and rec.core ~= NODE.core and not rec.hs then
    rec.hs = rec.es
    rec.pg = 1
  end
  CH[key] = rec; CHD[key] = true
  if rec.o then touch_call(rec) end
  return true
end

-- Channels FreeSWITCH no longer has (a `show channels` snapshot taken at op.st) hang up,
-- unless an event newer than op.cut says otherwise (the snapshot lags the events).
local function channel_snapshot(op)
  local members = redis.call('ZRANGE', NODE.nk, 0, -1)
  for _, u in ipairs(members) do
    if not op.present[u] then
      local key = CFG.cp .. u
      local rec = chan(key)
      if rec and not rec.hs and gt(op.cut, rec.es) then kill(rec, key, 'rr') end
    end
  end
end

-- Registrations: one record per extension with every binding (node, profile, call-id).
-- FreeSWITCH keeps a registration under the user the phone registered as (`op.as`, its
-- sip_user), which is the extension or its number-alias: with multiple-registrations off, a
-- register replaces, and an unregister removes, the bindings of that user only. So the
-- per-profile marks (`top`, `wipe`) of a binding registered under another name than the
-- extension are kept per profile and name (`us`, the binding's scope; `np` otherwise).
local SNAP_KEPT = {}
local KEPT_OUT = {}   -- SNAP_KEPT as bid, domain, extension triples: the next chunk's BATCH.kept
local MOVED_OUT = {}  -- bindings moved to the extension their name now means (their rows add them)
local function merge_reg(op)
  if op.typ == 'snap' and UNKNOWN_OWNER[op.o] and SNAP_KEPT[op.bid] then op.o = SNAP_KEPT[op.bid] end
  local h = xreg(op.o)
  local R = h.rec
  local us = op.np
  local other = op.as ~= nil and op.as ~= op.o.x
  if other then us = op.np .. '\t' .. op.as end
  local B = R.b[op.bid]
  if B == nil then
    B = {np = op.np, cid = op.cid}
    R.b[op.bid] = B
  end
  if other then B.us = us end
  -- the event text names the alias only: say which extension it counted for
  local ev = op.ev
  if other and ev then
    ev = string.sub(ev, 1, -2) .. ',"fscti-extension":' .. cjson.encode(op.o.x) .. '}'
  end
  if op.typ == 'reg' then
    if gt(op.st, B.rs) then
      B.rs = op.st
      B.exp = op.exp
      B.contact = op.contact
    end
  elseif op.typ == 'snap' then
    -- FreeSWITCH has the row at op.st: a new or revived binding starts then; a live one
    -- keeps its event times (a snapshot must not reorder bindings), with the later expiry
    if B.rs == nil or (B.ds and not gt(B.rs, B.ds) and gt(op.st, B.ds)) then
      B.rs = op.st
      B.exp = op.exp
      B.contact = op.contact
    elseif gt(op.exp, B.exp) then
      B.exp = op.exp
    end
  end
  if op.typ == 'reg' or op.typ == 'snap' then
    -- the registration event itself (the `gui.registration` value): a real event beats a
    -- snapshot's stand-in; among equals the newest wins
    -- (the event text itself lives beside the record: read only when it is published)
    if op.typ == 'reg' then
      if B.evsnap or gt(op.st, B.evs) then
        B.reg, B.sw, B.evs, B.evsnap = op.reg, op.sw, op.st, nil
        redis.call('HSET', op.o.rg, ev_field(op.o, op.bid, 'ev'), ev)
      end
    elseif B.evs == nil or (B.evsnap and gt(op.st, B.evs)) then
      B.reg, B.sw, B.evs, B.evsnap = op.reg, op.sw, op.st, 1
      redis.call('HSET', op.o.rg, ev_field(op.o, op.bid, 'ev'), ev)
    end
    local top = R.top[us]
    if top == nil or (top[2] ~= op.bid and (gt(op.st, top[1]) or (op.st == top[1] and op.bid > top[2]))) then
      R.top[us] = {op.st, op.bid}
    elseif top[2] == op.bid and op.typ == 'reg' and gt(op.st, top[1]) then
      top[1] = op.st
    end
  else
    if gt(op.st, B.ds) then
      B.ds = op.st
      B.dwhy = op.typ
      if ev then redis.call('HSET', op.o.rg, ev_field(op.o, op.bid, 'dev'), ev) end
    end
    if op.typ == 'unreg' then
      if gt(op.st, R.wipe[us]) then R.wipe[us] = op.st end
      if op.contact ~= nil and op.contact ~= '' and gt(op.st, R.dc[op.contact]) then
        R.dc[op.contact] = op.st
      end
    end
  end
  if op.multi ~= nil then R.m[op.np] = op.multi end
  h.dirty = true
  dirty_reg(op.o)
end

-- A `sofia xmlstatus ... reg` snapshot at op.st: bindings of these profiles it lacks are gone.
-- One it has under a user (`present[bid]`) the mirror now maps to another extension than the
-- one keeping it (an event came before the mirror knew the alias) is gone there and added
-- under that extension by the row's op; one whose user the mirror does not know (any more:
-- an alias removed while its phone stays registered) stays where it is (SNAP_KEPT).
-- `op.m`: the members this pass visits (a node's pass cut into several runs), else all.
local function registration_snapshot(op)
  local members = op.m or redis.call('ZRANGE', BATCH.nb, 0, -1)
  for _, m in ipairs(members) do
    if not op.m or redis.call('ZSCORE', BATCH.nb, m) then
      local ctx, np, cid, legacy = parse_member(m)
      local bid = np .. '\t' .. cid
      if op.np[np] then
        if legacy then                 -- rewritten in the current shape by the recompute
          redis.call('ZREM', BATCH.nb, m)
          dirty_reg(ctx)
        end
        local user, moved, known = op.present[bid], false, true
        if type(user) == 'string' then
          local x
          x, known = resolve(ctx.d, user)
          moved = known and x ~= ctx.x
        end
        if not user or moved or not known then
          if not known then
            SNAP_KEPT[bid] = ctx
            KEPT_OUT[#KEPT_OUT + 1] = bid
            KEPT_OUT[#KEPT_OUT + 1] = ctx.d
            KEPT_OUT[#KEPT_OUT + 1] = ctx.x
          else
            merge_reg({typ = 'gone', o = ctx, np = np, bid = bid, cid = cid, st = op.st})
            STATS.gone = STATS.gone + 1
            if moved then MOVED_OUT[#MOVED_OUT + 1] = bid end
          end
        end
      end
    end
  end
end
