"""Lua scripts of the directory mirror: each runs atomically inside Redis.

Why Lua: a write must update the extension hash, the alias index and the disabled set together
(an alias change removes the old alias in the same step), must also reach the aside copy while a
rebuild runs, and the hot path must resolve domain + user (+ alias) in one round trip.
Key names are always passed in KEYS (formatted by app.state.keys), never built here.
"""
import redis
import redis.client

# Shared helpers. `lc` folds ASCII case: FreeSWITCH matches user ids and aliases case-insensitively.
_HELPERS = r"""
local function lc(s) return string.lower(s) end
local function alias_of(json)
  if not json then return nil end
  local ok, v = pcall(cjson.decode, json)
  if not ok or type(v) ~= 'table' or type(v['attribute']) ~= 'table' then return nil end
  local a = v['attribute']['number-alias']
  if a == nil or a == cjson.null or a == '' or type(a) == 'table' then return nil end
  return tostring(a)
end
local function unindex(al, key, name)
  if redis.call('HGET', al, key) == name then redis.call('HDEL', al, key) end
end
local function index(al, name, alias)
  if alias ~= '' and lc(alias) ~= name then redis.call('HSET', al, lc(alias), name) end
  if lc(name) ~= name then redis.call('HSET', al, lc(name), name) end
end
-- op U: enabled, value json; op D: disabled; op X: deleted (alias = an extra alias to unindex)
local function apply(ex, al, dis, op, name, json, alias)
  local old = redis.call('HGET', ex, name)
  local oa = alias_of(old)
  if oa then unindex(al, lc(oa), name) end
  if lc(name) ~= name then unindex(al, lc(name), name) end
  if op == 'U' then
    redis.call('HSET', ex, name, json)
    redis.call('SREM', dis, name)
    index(al, name, alias)
  else
    if alias ~= '' then unindex(al, lc(alias), name) end
    redis.call('HDEL', ex, name)
    if op == 'D' then redis.call('SADD', dis, name) else redis.call('SREM', dis, name) end
  end
end
"""

# Writes by the API, repairs and template re-mirrors.
# KEYS: exten, alias, disabled, marker, exten_aside, alias_aside, disabled_aside, touched, seq
# ARGV: expected seq ('' = unconditional), then op, name, json, alias repeated.
# Returns the number of ops applied, or -1 when the seq moved (a concurrent write: retry).
WRITE = _HELPERS + r"""
if ARGV[1] ~= '' and (redis.call('GET', KEYS[9]) or '0') ~= ARGV[1] then return -1 end
local rebuilding = redis.call('EXISTS', KEYS[4]) == 1
local n = 0
for i = 2, #ARGV, 4 do
  local op, name, json, alias = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3]
  apply(KEYS[1], KEYS[2], KEYS[3], op, name, json, alias)
  if rebuilding then
    apply(KEYS[5], KEYS[6], KEYS[7], op, name, json, alias)
    redis.call('SADD', KEYS[8], name)
  end
  n = n + 1
end
redis.call('INCR', KEYS[9])
return n
"""

# The domain entry. KEYS: domains, marker, touched, seq. ARGV: domain, json, rebuild token or '',
# expected seq or ''. A rebuild writes it only if it still owns the marker and no writer touched it.
DOMAIN_SET = r"""
if ARGV[3] ~= '' then
  if redis.call('GET', KEYS[2]) ~= ARGV[3] then return -1 end
  if redis.call('SISMEMBER', KEYS[3], '@domain') == 1 then return 0 end
else
  if ARGV[4] ~= '' and (redis.call('GET', KEYS[4]) or '0') ~= ARGV[4] then return -1 end
  if redis.call('EXISTS', KEYS[2]) == 1 then redis.call('SADD', KEYS[3], '@domain') end
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[4])
return 1
"""

# Remove a domain and all it mirrors; a rebuild in progress loses its marker and aborts.
# KEYS: domains, exten, alias, disabled, marker, exten_aside, alias_aside, disabled_aside,
# touched, seq. ARGV: domain, expected seq or ''.
DOMAIN_DELETE = r"""
if ARGV[2] ~= '' and (redis.call('GET', KEYS[10]) or '0') ~= ARGV[2] then return -1 end
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[5], KEYS[6], KEYS[7], KEYS[8], KEYS[9])
redis.call('INCR', KEYS[10])
return 1
"""

# Start a rebuild. KEYS: marker, exten_aside, alias_aside, disabled_aside, touched.
# ARGV: token, ttl seconds. Returns 0 when another rebuild of the domain holds the marker.
REBUILD_BEGIN = r"""
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'EX', ARGV[2]) then return 0 end
redis.call('UNLINK', KEYS[2], KEYS[3], KEYS[4], KEYS[5])
return 1
"""

# One batch of a rebuild into the aside keys; names a writer touched meanwhile are skipped
# (the writer already put its newer value, or its delete, in the aside copy).
# KEYS: marker, exten_aside, alias_aside, disabled_aside, touched.
# ARGV: token, ttl, then name, json ('' = disabled), alias repeated. Returns -1 if the marker is lost.
REBUILD_BATCH = _HELPERS + r"""
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('EXPIRE', KEYS[1], ARGV[2])
local n = 0
for i = 3, #ARGV, 3 do
  local name, json, alias = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  if redis.call('SISMEMBER', KEYS[5], name) == 0 then
    if json == '' then
      redis.call('SADD', KEYS[4], name)
    else
      redis.call('HSET', KEYS[2], name, json)
      index(KEYS[3], name, alias)
    end
    n = n + 1
  end
end
return n
"""

# Swap the aside keys in. Readers see the old or the new hash, never a missing or partial one;
# UNLINK frees the old hash in the background so a 1M-field delete does not block Redis.
# KEYS: marker, exten, alias, disabled, exten_aside, alias_aside, disabled_aside, touched, seq.
# ARGV: token. Returns -1 (and drops its orphaned aside keys) when the marker is no longer ours.
REBUILD_SWAP = r"""
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then
  if not cur then redis.call('UNLINK', KEYS[5], KEYS[6], KEYS[7], KEYS[8]) end
  return -1
end
for i = 2, 4 do
  redis.call('UNLINK', KEYS[i])
  if redis.call('EXISTS', KEYS[i + 3]) == 1 then redis.call('RENAME', KEYS[i + 3], KEYS[i]) end
end
redis.call('UNLINK', KEYS[1], KEYS[8])
redis.call('INCR', KEYS[9])
return 1
"""

# Drop alias index entries that no longer point at an extension carrying that alias or name.
# KEYS: exten, alias. ARGV: alias index fields to check. Returns the removed fields.
ALIAS_PRUNE = _HELPERS + r"""
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
return removed
"""

# The hot path, one round trip. KEYS: domains, exten, alias, disabled.
# ARGV: domain, user ('' = domain only), mode ('alias' = only by number-alias).
# Returns {0} unknown domain, {1, domain} domain only, {2, domain, name, user} found,
# {3, domain} disabled, {4, domain} user not in the mirror.
LOOKUP = r"""
local d = redis.call('HGET', KEYS[1], ARGV[1])
if not d then return {0} end
local name = ARGV[2]
if name == '' then return {1, d} end
local u = false
if ARGV[3] ~= 'alias' then u = redis.call('HGET', KEYS[2], name) end
if not u then
  local l = string.lower(name)
  local n = redis.call('HGET', KEYS[3], l)
  if n then
    u = redis.call('HGET', KEYS[2], n)
    if u then name = n end
  elseif l ~= name and ARGV[3] ~= 'alias' then
    u = redis.call('HGET', KEYS[2], l)
    if u then name = l end
  end
end
if u then return {2, d, name, u} end
if ARGV[3] ~= 'alias' and redis.call('SISMEMBER', KEYS[4], name) == 1 then return {3, d} end
return {4, d}
"""


def fence(client: redis.Redis) -> None:
    """One more round trip after a write that /directory readers may have cached.

    Redis 7 writes the replies and pushes queued during one event-loop iteration in one pass
    at its end, the most recently queued client first: the writer's reply can leave before the
    invalidation pushed to a reader's connection. A command sent after that reply is processed
    in a later iteration, after the pass has written every invalidation. So when fence returns,
    every tracking reader's socket holds its invalidation (see HotConnection.fresh_cache).
    """
    client.ping()


class _Fenced:
    """A registered script whose call returns only after a fence (not when queued on a pipeline:
    the aside keys rebuild batches write are read by no lookup)."""

    def __init__(self, script):
        self.script = script

    def __call__(self, keys=(), args=(), client=None):
        out = self.script(keys=keys, args=args, client=client)
        if client is None or not isinstance(client, redis.client.Pipeline):
            fence(client or self.script.registered_client)
        return out


class Scripts:
    """The scripts registered on one Redis client (EVALSHA with NOSCRIPT fallback). Those that
    change what LOOKUP reads are fenced."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self.write = _Fenced(client.register_script(WRITE))
        self.domain_set = _Fenced(client.register_script(DOMAIN_SET))
        self.domain_delete = _Fenced(client.register_script(DOMAIN_DELETE))
        self.rebuild_begin = client.register_script(REBUILD_BEGIN)
        self.rebuild_batch = client.register_script(REBUILD_BATCH)
        self.rebuild_swap = _Fenced(client.register_script(REBUILD_SWAP))
        self.alias_prune = _Fenced(client.register_script(ALIAS_PRUNE))


_cache: dict[int, Scripts] = {}


def scripts_for(client: redis.Redis) -> Scripts:
    """The Scripts of this client (created once per client object)."""
    s = _cache.get(id(client))
    if s is None or s.client is not client:
        s = _cache[id(client)] = Scripts(client)
    return s
