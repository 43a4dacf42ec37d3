-- fscti state script, part 1: arguments, comparisons, JSON encoding, record caches.
-- ARGV[1] = config JSON (gui names, fields, key prefixes, TTL: app/state/scripts.py);
-- ARGV[2] = the batch {now, cut, node, ndk, nk, nb, nodes, off?, owners, ops = [...]}
-- (app/state/ingest.py), in MessagePack when ARGV[3] is 'm' (cheaper to decode than JSON),
-- else JSON. Ops carry no null (a Python None would arrive as an absent key in MessagePack
-- but as the truthy cjson.null in JSON): an unset value is left out.
-- Every key name comes from app/state/keys.py, as a prefix in ARGV[1] or a name in the batch;
-- stored records hold no key names (owner_ctx and binding_member below derive them).
-- The short field names of the records and ops: app/state/lua/FIELDS.md.

local NULL = cjson.null
local CFG = cjson.decode(ARGV[1])
local BATCH
if ARGV[3] == 'm' then BATCH = cmsgpack.unpack(ARGV[2]) else BATCH = cjson.decode(ARGV[2]) end
local TTL = tonumber(CFG.ttl)
-- NOW: µs on the node's (FreeSWITCH's) clock, given, or our clock plus the node's offset.
-- Doubles hold these 16-digit integers exactly; '%.0f' prints them back in full.
local NOW = BATCH.now
if NOW == nil then
  local off = tonumber(redis.call('HGET', BATCH.ndk, 'offset') or '0') or 0
  NOW = string.format('%.0f', tonumber(BATCH.lnow) + off)
end
-- stamp (16-digit time + 20-digit sequence): tombstones older than this are forgotten
local CUT = string.format('%016.0f', math.max(0, tonumber(NOW) - TTL * 1000000)) .. string.rep('0', 20)

-- Numbers are compared as digit strings: Lua 5.1 prints 16-digit integers as %.14g.
local function gt(a, b)
  if a == nil or a == NULL then return false end
  if b == nil or b == NULL then return true end
  local la, lb = #a, #b
  if la ~= lb then return la > lb end
  return a > b
end

-- cjson escapes '/' as '\/' (valid JSON, but mod_cti GUIs see plain slashes). Plain finds
-- (memchr speed) rather than gsub, whose pattern matcher is far slower on every value.
local function unslash(s)
  local i = string.find(s, '\\/', 1, true)
  if not i then return s end
  local parts, start = {}, 1
  while i do
    parts[#parts + 1] = string.sub(s, start, i - 1)
    start = i + 1                                   -- keeps the '/', drops the '\'
    i = string.find(s, '\\/', start, true)
  end
  parts[#parts + 1] = string.sub(s, start)
  return table.concat(parts)
end

local enc_obj
local function enc(v)
  local t = type(v)
  if t == 'string' then return cjson.encode(v) end
  if t == 'table' then
    if v[1] ~= nil then
      local parts = {}
      for i = 1, #v do parts[i] = enc(v[i]) end
      return '[' .. table.concat(parts, ',') .. ']'
    end
    return enc_obj(v, nil)
  end
  if t == 'boolean' or t == 'number' then return cjson.encode(v) end
  return 'null'
end

-- Deterministic object encoding: keys of `first` in that order, then the rest sorted.
enc_obj = function(tbl, first)
  local parts, done = {}, {}
  if first then
    for _, k in ipairs(first) do
      local v = tbl[k]
      if v ~= nil and v ~= NULL then
        parts[#parts + 1] = cjson.encode(k) .. ':' .. enc(v)
        done[k] = true
      end
    end
  end
  local rest = {}
  for k, _ in pairs(tbl) do if not done[k] then rest[#rest + 1] = k end end
  table.sort(rest)
  for _, k in ipairs(rest) do
    local v = tbl[k]
    if v ~= NULL then parts[#parts + 1] = cjson.encode(k) .. ':' .. enc(v) end
  end
  return '{' .. table.concat(parts, ',') .. '}'
end

local STATS = {gone = 0}     -- channels hung up / bindings removed by snapshots and restarts

-- configured gui.call fields that are channel times (max-merged, "0" = not yet)
local TIME_FIELD = {}
for _, k in ipairs(CFG.fields) do
  if string.sub(k, -5) == '-Time' then TIME_FIELD[k] = true end
end

-- (plain finds: a pattern costs per byte, and some of these are 1-2 KB long)
local function split_tab(s)
  local out, start = {}, 1
  while true do
    local i = string.find(s, '\t', start, true)
    if not i then
      out[#out + 1] = string.sub(s, start)
      return out
    end
    out[#out + 1] = string.sub(s, start, i - 1)
    start = i + 1
  end
end

-- Channel records (string keys), read once per script and written back at the end.
local CH, CHD = {}, {}
local function chan(key)
  local r = CH[key]
  if r == nil then
    local v = redis.call('GET', key)
    if v then r = cjson.decode(v) else r = false end
    -- records written before owners were {d, x} also carried the owner's key names
    if r and r.o and r.o.ui then r.o = {d = r.o.d, x = r.o.x} end
    CH[key] = r
  end
  return r or nil
end

-- Per-extension records stored as hash fields (call state, registration state).
local HX = {}
local function hrec(key, field, fresh)
  local id = key .. '\n' .. field
  local h = HX[id]
  if h == nil then
    local v = redis.call('HGET', key, field)
    h = {key = key, field = field, dirty = false}
    if v then h.rec = cjson.decode(v) else h.rec = fresh() end
    HX[id] = h
  end
  return h
end

local function xcall(ctx)
  return hrec(ctx.xc, ctx.x, function() return {live = {}} end)
end

-- Beside an extension's registration record (same hash): the text of each binding's newest
-- register event ('ev') and of the event that ended it ('dev').
local function ev_field(ctx, bid, which)
  return ctx.x .. '\t' .. bid .. '\t' .. which
end

local function xreg(ctx)
  return hrec(ctx.rg, ctx.x, function()
    return {b = {}, top = {}, wipe = {}, dc = {}, m = {}}
  end)
end

-- Extensions whose outputs must be recomputed.
local CTXS, DCALL, DREG, TOUCHED = {}, {}, {}, {}
local function ext_id(ctx) return ctx.ui .. '\n' .. ctx.x end
local function dirty_call(ctx)
  local id = ext_id(ctx)
  CTXS[id] = ctx; DCALL[id] = true; TOUCHED[id] = 'c'
end
local function dirty_reg(ctx)
  local id = ext_id(ctx)
  CTXS[id] = ctx; DREG[id] = true; TOUCHED[id] = 'r'
end

local function publish(channel, list, max, msg)
  if channel ~= '' then redis.call('PUBLISH', channel, msg) end
  if list ~= '' then
    redis.call('RPUSH', list, msg)
    redis.call('LTRIM', list, -tonumber(max), -1)
  end
end

-- Which extension a SIP user name means: a phone may register, call and be called
-- by its extension's number-alias, and FreeSWITCH's events then name only that alias. The
-- state is keyed by the extension (the `cti_exten@<domain>` field), found from the directory
-- mirror as /directory finds a `key=id` user: the exact name, else the alias index (lowercase
-- alias, or lowercase id with capitals), else the lowercase name. A name the mirror does not
-- know is kept as given (a later resync moves it once the mirror knows it). Returns the name
-- and whether the mirror knows it; one HEXISTS for a known extension, cached per script run.
local RESOLVED = {}
local function resolve(d, name)
  local id = d .. '\n' .. name
  local r = RESOLVED[id]
  if r == nil then
    local ex = CFG.ep .. d
    r = {name, true}
    if redis.call('HEXISTS', ex, name) == 0 then
      local l = string.lower(name)
      local n = redis.call('HGET', CFG.ap .. d, l)
      if n then
        if redis.call('HEXISTS', ex, n) == 1 then r[1] = n else r[2] = false end
      elseif l ~= name and redis.call('HEXISTS', ex, l) == 1 then
        r[1] = l
      else
        r[2] = false
      end
    end
    RESOLVED[id] = r
  end
  return r[1], r[2]
end

-- An extension's state context: its domain and name, and the key names of its records and
-- outputs (keys.userinfo, keys.call_state, keys.reg_state), one table per extension a run.
local OWNER, DOMAIN_KEYS = {}, {}
local function owner_ctx(d, x)
  local id = d .. '\n' .. x
  local ctx = OWNER[id]
  if ctx == nil then
    local dk = DOMAIN_KEYS[d]
    if dk == nil then
      dk = {ui = CFG.up .. d, xc = CFG.xp .. d, rg = CFG.gp .. d}
      DOMAIN_KEYS[d] = dk
    end
    ctx = {d = d, x = x, ui = dk.ui, xc = dk.xc, rg = dk.rg}
    OWNER[id] = ctx
  end
  return ctx
end

-- The batch's owners ({d, x}: app/state/ingest.py sends each once) become the context of the
-- extension their name means; those the mirror does not know are remembered (a snapshot
-- adopts only known ones).
local UNKNOWN_OWNER = {}
local function resolve_owner(o)
  local x, known = resolve(o.d, o.x)
  local ctx = owner_ctx(o.d, x)
  if not known then UNKNOWN_OWNER[ctx] = true end
  return ctx
end

-- Members of a node's bindings set (keys.node_bindings): `domain \t ext \t bid`, bid being
-- `node \t profile \t call-id`. Members written before this shape led with the owner's three
-- key names (8 fields): they are read too, and `legacy` says so (the caller replaces them).
local function binding_member(ctx, bid)
  return ctx.d .. '\t' .. ctx.x .. '\t' .. bid
end

local function parse_member(m)
  local p = split_tab(m)
  local legacy = #p == 8
  if legacy then p = {p[4], p[5], p[6], p[7], p[8]} end
  return owner_ctx(p[1], p[2]), p[3] .. '\t' .. p[4], p[5], legacy
end

-- A binding's node bindings key, from its `np` (`node \t profile`).
local NB_OF = {}
local function bindings_key(np)
  local k = NB_OF[np]
  if k == nil then
    k = CFG.bp .. string.sub(np, 1, string.find(np, '\t', 1, true) - 1)
    NB_OF[np] = k
  end
  return k
end
