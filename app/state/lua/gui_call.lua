-- fscti state script, part 3: the `gui.call` output (SPEC §3), recomputed from an
-- extension's call record and its live channels. Also the channel helpers the
-- `cti_userinfo@` output (userinfo.lua) shares.

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
    if rec and not rec.hs and rec.o and rec.o.d == ctx.d and rec.o.x == ctx.x then
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
