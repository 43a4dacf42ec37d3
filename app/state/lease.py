"""Which listener reads which FreeSWITCH node: a per-node lease in Redis with a fencing token.

    token = acquire(client, "fs1", "host-a:1234:9f3c", ttl_ms=3000)   # int, or None if held
    renew(client, "fs1", owner, token, ttl_ms)      # True while it is still ours (or
                                                    # free and not acquired by another since)
    release(client, "fs1", owner, token)            # a clean stop: the next owner need not wait

The lease (`keys.node_lease`) is one string, JSON {owner, token}, with a PX expiry: it is
free again `ttl_ms` after its owner last renewed it. Acquiring INCRs the node's fence counter
(`keys.node_fence`) in the same script, so every acquisition gets a token larger than all
before it. The listener sends that token with every ingest batch and resync of the node, and
the state script (app/state/lua/apply.lua) applies a batch only when its token still equals
the fence: a listener that was paused past its lease and wakes up cannot write stale events
over what the new owner resynced (its batches are counted and logged as stale).

Live listeners also heartbeat (`heartbeat`) into `keys.listeners()`, so each can hold at most
ceil(nodes / live listeners) of the nodes (workers/listener_lease.py balances on that).
"""
from __future__ import annotations

import json
import math

from app.state import keys

# KEYS: lease, fence. ARGV: owner, ttl ms. The new token, or false when another owner holds it.
_ACQUIRE = r"""
local raw = redis.call('GET', KEYS[1])
if raw then
  local ok, cur = pcall(cjson.decode, raw)
  if ok and type(cur) == 'table' and cur.owner ~= ARGV[1] then return false end
end
local token = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], cjson.encode({owner = ARGV[1], token = token}), 'PX', ARGV[2])
return token
"""

# KEYS: lease, fence. ARGV: owner, token, ttl ms ('' = release). 1 when the lease is ours.
# A lease found gone is resumed with the same token when no one acquired the node since
# (the fence is still that token, or gone with the rest of Redis's data): the owner never
# stopped reading, so nothing was missed and its batches in flight stay valid.
_RENEW = r"""
local raw = redis.call('GET', KEYS[1])
if not raw then
  if ARGV[3] == '' then return 0 end
  local fence = redis.call('GET', KEYS[2])
  if fence and tonumber(fence) ~= tonumber(ARGV[2]) then return 0 end
  if not fence then redis.call('SET', KEYS[2], ARGV[2]) end
  redis.call('SET', KEYS[1], cjson.encode({owner = ARGV[1], token = tonumber(ARGV[2])}),
             'PX', ARGV[3])
  return 1
end
local ok, cur = pcall(cjson.decode, raw)
if not ok or type(cur) ~= 'table' or cur.owner ~= ARGV[1]
    or tonumber(cur.token) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[3] == '' then redis.call('DEL', KEYS[1]) else redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
return 1
"""

# KEYS: listeners. ARGV: id, ttl ms ('' = leave). The number of live listeners.
_HEARTBEAT = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[2] == '' then redis.call('ZREM', KEYS[1], ARGV[1])
else redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1]) end
return redis.call('ZCARD', KEYS[1])
"""

_scripts: dict = {}


def _script(client, body: str):
    found = _scripts.get((id(client), body))
    if found is None or found[0] is not client:
        found = (client, client.register_script(body))
        _scripts[(id(client), body)] = found
    return found[1]


def acquire(client, node: str, owner: str, ttl_ms: int) -> int | None:
    """Take the node's lease if it is free (or ours): the new fencing token, else None."""
    token = _script(client, _ACQUIRE)(keys=[keys.node_lease(node), keys.node_fence(node)],
                                      args=[owner, int(ttl_ms)])
    return int(token) if token is not None else None


def renew(client, node: str, owner: str, token: int, ttl_ms: int) -> bool:
    """Push the lease's expiry `ttl_ms` on, if `owner` still holds it with `token`."""
    return bool(_script(client, _RENEW)(keys=[keys.node_lease(node), keys.node_fence(node)],
                                        args=[owner, int(token), int(ttl_ms)]))


def release(client, node: str, owner: str, token: int) -> bool:
    """Give the lease up (a clean stop or a rebalance), if it is still ours."""
    return bool(_script(client, _RENEW)(keys=[keys.node_lease(node), keys.node_fence(node)],
                                        args=[owner, int(token), ""]))


def holder(client, node: str) -> dict | None:
    """The lease's {owner, token, ttl_ms}, or None when no listener holds it."""
    with client.pipeline(transaction=False) as pipe:
        pipe.get(keys.node_lease(node))
        pipe.pttl(keys.node_lease(node))
        raw, ttl = pipe.execute()
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    return {"owner": str(value.get("owner", "")), "token": int(value.get("token") or 0),
            "ttl_ms": int(ttl) if ttl is not None and int(ttl) >= 0 else None}


def fence(client, node: str) -> int:
    """The node's current fence (the token of its latest acquisition; 0 if never leased)."""
    return int(client.get(keys.node_fence(node)) or 0)


def heartbeat(client, listener_id: str, ttl_ms: int) -> int:
    """This listener is alive for `ttl_ms` more; returns how many listeners are alive."""
    return int(_script(client, _HEARTBEAT)(keys=[keys.listeners()],
                                           args=[listener_id, int(ttl_ms)]))


def leave(client, listener_id: str) -> int:
    """This listener stops (clean shutdown); returns how many are left alive."""
    return int(_script(client, _HEARTBEAT)(keys=[keys.listeners()], args=[listener_id, ""]))


def fair_share(nodes: int, live: int) -> int:
    """How many nodes one listener may hold: ceil(nodes / live listeners)."""
    return math.ceil(nodes / max(1, live)) if nodes else 0
