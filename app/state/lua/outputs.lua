-- fscti state scripts, part 3: the SPEC-shaped outputs, recomputed from the records.
-- `cti_userinfo@<domain>` (SPEC §2), `gui.registration` and `gui.call` (SPEC §2-§3).


local function fv(rec, k)
  return rec.f[k]
end

local function created(rec)
  return rec.t['Caller-Channel-Created-Time'] or rec.t['Caller-Profile-Created-Time'] or '0'
end

local function label(rec)
  if rec.hs then return 'hangup' end
  return rec.lb or ''
end

local function newer(a, b)       -- a after b, by (last stamp, uuid)
  if b == nil then return true end
  if a.es ~= b.es then return gt(a.es, b.es) end
  return a.u > b.u
end

-- Live channels of an extension, oldest first; drops members whose record went away.
local function live_calls(ctx)
  local h = xcall(ctx)
  local list = {}
  for u, _ in pairs(h.rec.live) do
    local rec = chan(CFG.cp .. u)
    if rec and not rec.hs and rec.o and rec.o.ui == ctx.ui and rec.o.x == ctx.x then
      list[#list + 1] = rec
    else
      h.rec.live[u] = nil
      h.dirty = true
    end
  end
  table.sort(list, function(a, b)
    local ca, cb = created(a), created(b)
    if ca ~= cb then return gt(cb, ca) end
    return a.u < b.u
  end)
  return list
end

-- Output values are built as one list of pieces joined once: in Lua every intermediate
-- string (a .. b) is a new interned string, which costs more than the JSON encoding itself.
-- Channel times are digit strings (app/state/prepare.py and snapshot.py check them), so
-- they go between quotes as they are.

-- One entry of cti_userinfo `calls` (SPEC §2), in SPEC's key order, appended to `out`.
local function put_ui_call(out, rec)
  local t = rec.t
  local prog
  local p1, p2 = t['Caller-Channel-Progress-Time'], t['Caller-Channel-Progress-Media-Time']
  if p1 and p1 ~= '0' then prog = p1 end
  if p2 and p2 ~= '0' and (prog == nil or gt(prog, p2)) then prog = p2 end
  local dir = fv(rec, 'Call-Direction') or ''
  local number
  if dir == 'inbound' then number = fv(rec, 'Caller-Destination-Number')
  else number = fv(rec, 'Caller-Caller-ID-Number') end
  local bond = fv(rec, 'variable_signal_bond')
  if bond == nil or bond == '' then bond = fv(rec, 'Other-Leg-Unique-ID') or '' end
  local e, n = cjson.encode, #out
  out[n + 1] = '{"Unique-ID":'; out[n + 2] = e(rec.u)
  out[n + 3] = ',"Created-Time":"'; out[n + 4] = created(rec)
  out[n + 5] = '","Progress-Time":"'; out[n + 6] = prog or '0'
  out[n + 7] = '","Answered-Time":"'; out[n + 8] = t['Caller-Channel-Answered-Time'] or '0'
  out[n + 9] = '","Call-Direction":'; out[n + 10] = e(dir)
  out[n + 11] = ',"Call-Number":'; out[n + 12] = e(number or '')
  out[n + 13] = ',"Timestamp":'; out[n + 14] = e(rec.ets)
  out[n + 15] = ',"Signal-Bond":'; out[n + 16] = e(bond)
  out[n + 17] = '}'
end

-- '{"<field>":' (first in the object) and ',"<field>":' of each configured field, encoded once
local FIELD_FIRST, FIELD_NEXT = {}, {}
for _, k in ipairs(CFG.fields) do
  FIELD_FIRST[k] = '{' .. cjson.encode(k) .. ':'
  FIELD_NEXT[k] = ',' .. cjson.encode(k) .. ':'
end

-- The configured fields of rec as a JSON object, appended to `out`. rec: a channel record,
-- or the projection kept as an extension's last hung-up leg (`v`).
local function put_fields(out, rec)
  local n, first = #out, true
  for _, k in ipairs(CFG.fields) do
    local v, digits = rec.t[k], true
    if v == nil then
      digits = false
      if rec.v then v = rec.v[k] else v = fv(rec, k) end
      if v == nil and TIME_FIELD[k] then v, digits = '0', true end    -- channel times: "0" = not yet
    end
    if v ~= nil then
      if first then n = n + 1; out[n] = FIELD_FIRST[k]; first = false
      else n = n + 1; out[n] = FIELD_NEXT[k] end
      if digits then
        out[n + 1] = '"'; out[n + 2] = v; out[n + 3] = '"'; n = n + 3
      else
        n = n + 1; out[n] = cjson.encode(v)
      end
    end
  end
  out[n + 1] = first and '{}' or '}'
end

-- gui.call value (SPEC §3), or nil when the extension has no call at all.
local function call_value(ctx, X, calls)
  local cur
  for _, rec in ipairs(calls) do if newer(rec, cur) then cur = rec end end
  if X.lh and newer(X.lh, cur) then cur = X.lh end
  if cur == nil then return nil end
  local e = cjson.encode
  local out = {'{"username":', e(ctx.x), ',"current":', e(cur.u), ',"notify":', e(label(cur))}
  for _, rec in ipairs(calls) do
    out[#out + 1] = ','; out[#out + 1] = e(rec.u); out[#out + 1] = ':'
    put_fields(out, rec)
  end
  if X.lh and not CFG.rmh then
    out[#out + 1] = ','; out[#out + 1] = e(X.lh.u); out[#out + 1] = ':'
    put_fields(out, X.lh)
  end
  out[#out + 1] = ',"activity":['
  for i, rec in ipairs(calls) do
    if i > 1 then out[#out + 1] = ',' end
    out[#out + 1] = e(rec.u)
  end
  out[#out + 1] = ']}'
  return unslash(table.concat(out))
end

local PUSH_CALLS = CFG.cc ~= '' or CFG.cl ~= ''

local function recompute_call(ctx)
  local h = xcall(ctx)
  local calls = live_calls(ctx)
  local v = call_value(ctx, h.rec, calls)
  if not PUSH_CALLS then                 -- nothing to publish: no need to read the old value
    if CFG.ch ~= '' then
      if v then redis.call('HSET', CFG.ch, ctx.x, v) else redis.call('HDEL', CFG.ch, ctx.x) end
    end
    return calls
  end
  local old
  if CFG.ch ~= '' then old = redis.call('HGET', CFG.ch, ctx.x) or nil else old = h.rec.pv end
  if v ~= old then
    if CFG.ch ~= '' then
      if v then redis.call('HSET', CFG.ch, ctx.x, v) else redis.call('HDEL', CFG.ch, ctx.x) end
    elseif CFG.cc ~= '' or CFG.cl ~= '' then
      h.rec.pv = v
      h.dirty = true
    end
    if v then publish(CFG.cc, CFG.cl, CFG.cmax, v) end
  end
  return calls
end

-- Registrations ------------------------------------------------------------------------
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

local function member(ctx, bid)
  return ctx.ui .. '\t' .. ctx.rg .. '\t' .. ctx.xc .. '\t' .. ctx.d .. '\t' .. ctx.x .. '\t' .. bid
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
    if not alive(R, bid, B) then
      local last = B.rs
      if gt(B.ds, last) then last = B.ds end
      if last == nil or gt(CUT, last) then
        R.b[bid] = nil
        redis.call('ZREM', B.nb, member(ctx, bid))
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
    redis.call('ZADD', e.B.nb, e.B.exp, member(ctx, e.bid))
  end
  for bid, B in pairs(R.b) do
    if not alive_set[bid] then redis.call('ZREM', B.nb, member(ctx, bid)) end
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

-- The registration part of an extension's cti_userinfo value, `register` and `bindings` (and
-- the Switchname they give), only changes with the registration record (then DREG: it is
-- rebuilt) or when one of its bindings expires. It is kept as text beside the record (field
-- `<ext>\tui` of the same hash): `from \t until \t switchname \t register \t bindings`, valid
-- for from <= NOW < until (the first expiry), so a call event's recompute neither reads nor
-- decodes the registration record. Absent when no binding lives (the record is read then).
local function ui_field(ctx) return ctx.x .. '\tui' end

-- The `register` objects arrive as JSON text (app/state/prepare.py reg_json), spliced as is.
local function reg_part(binds)
  if #binds == 0 then return nil end
  local B1 = binds[1].B
  local sw = ''
  if B1.sw ~= nil and B1.sw ~= '' then sw = unslash(cjson.encode(B1.sw)) end
  local bl, till = {}, nil
  for i, e in ipairs(binds) do
    bl[i] = string.sub(e.B.reg, 1, -2) .. ',"expires-at":"' .. e.B.exp .. '"}'
    if till == nil or gt(till, e.B.exp) then till = e.B.exp end
  end
  return {sw = sw, reg = B1.reg, bl = '[' .. table.concat(bl, ',') .. ']', till = till}
end

local function save_reg_part(ctx, part)
  if part then
    redis.call('HSET', ctx.rg, ui_field(ctx),
               table.concat({NOW, part.till, part.sw, part.reg, part.bl}, '\t'))
  else
    redis.call('HDEL', ctx.rg, ui_field(ctx))
  end
end

-- The saved part if still valid at NOW, else recomputed from the record (and saved again).
local function load_reg_part(ctx)
  local text = redis.call('HGET', ctx.rg, ui_field(ctx))
  if text then
    local p = split_tab(text)
    if not gt(p[1], NOW) and gt(p[2], NOW) then
      return {sw = p[3], reg = p[4], bl = p[5], till = p[2]}
    end
  end
  local part = reg_part(live_bindings(xreg(ctx).rec))
  if part or text then save_reg_part(ctx, part) end
  return part
end

local function write_userinfo(ctx, part, calls)
  if part == nil and #calls == 0 then
    redis.call('HDEL', ctx.ui, ctx.x)
    return
  end
  local sw = part and part.sw or ''
  if sw == '' then
    local csw
    if #calls > 0 then csw = fv(calls[#calls], 'FreeSWITCH-Switchname') end
    sw = unslash(cjson.encode(csw or ''))
  end
  local parts = {'{"FreeSWITCH-Switchname":', sw}
  if part then parts[#parts + 1] = ',"register":'; parts[#parts + 1] = part.reg end
  parts[#parts + 1] = ',"calls":['
  local cl = {}
  for i, rec in ipairs(calls) do
    if i > 1 then cl[#cl + 1] = ',' end
    put_ui_call(cl, rec)
  end
  parts[#parts + 1] = unslash(table.concat(cl))
  parts[#parts + 1] = ']'
  if part then parts[#parts + 1] = ',"bindings":'; parts[#parts + 1] = part.bl end
  parts[#parts + 1] = '}'
  redis.call('HSET', ctx.ui, ctx.x, table.concat(parts))
end

local function recompute(id)
  local ctx = CTXS[id]
  local calls, part
  if DCALL[id] then calls = recompute_call(ctx) else calls = live_calls(ctx) end
  if DREG[id] then
    part = reg_part(recompute_reg(ctx))
    save_reg_part(ctx, part)
  else
    part = load_reg_part(ctx)
  end
  write_userinfo(ctx, part, calls)
end
