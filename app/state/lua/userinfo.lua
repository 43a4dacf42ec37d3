-- fscti state script, part 5: the `cti_userinfo@<domain>` output (SPEC §2), from the
-- registration part and the live calls; `recompute` rebuilds every output of an extension.

-- (Values are built as lists of pieces joined once, as in gui_call.lua.)

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
