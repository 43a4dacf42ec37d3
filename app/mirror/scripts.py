"""The mirror's Lua scripts (lua/*.lua): each runs atomically inside Redis, with EVALSHA.

Why Lua: a write must update the extension hash, the alias index and the disabled set together
(an alias change removes the old alias in the same step) and must also reach the aside copy
while a rebuild runs. Key names are always passed in KEYS (formatted by app.state.keys), never
built in a script. The lookup's script, which reads what these write, is app/directory/lua.
"""
from functools import lru_cache
from pathlib import Path

import redis
import redis.client

from app.replica import fence as replica_fence
from app.state import keys as key_names

LUA_DIR = Path(__file__).parent / "lua"
# Each script's parts, in order: a part uses the names the ones before it define.
PARTS = {
    "write": ("helpers.lua", "feed.lua", "feed_names.lua", "write.lua"),
    "domain_set": ("feed.lua", "domain_set.lua"),
    "domain_delete": ("feed.lua", "domain_delete.lua"),
    "rebuild_begin": ("rebuild_begin.lua",),
    "rebuild_batch": ("helpers.lua", "rebuild_batch.lua"),
    "rebuild_swap": ("feed.lua", "rebuild_swap.lua"),
    "alias_prune": ("helpers.lua", "feed.lua", "alias_prune.lua"),
}


@lru_cache(maxsize=None)
def source(name: str) -> str:
    """The whole text of one script."""
    return "\n".join((LUA_DIR / part).read_text(encoding="utf-8") for part in PARTS[name])


# The last two KEYS of every fenced script: the replica feed (lua/feed.lua, app/replica).
FEED_KEYS = (key_names.replica_feed(), key_names.replica_counter())


def fence(client: redis.Redis) -> None:
    """One more round trip after a write that /directory readers may have cached.

    Redis 7 writes the replies and pushes queued during one event-loop iteration in one pass
    at its end, the most recently queued client first: the writer's reply can leave before the
    invalidation pushed to a reader's connection. A command sent after that reply is processed
    in a later iteration, after the pass has written every invalidation. So when fence returns,
    every tracking reader's socket holds its invalidation (see HotConnection.fresh_cache).

    That round trip also asks which hosts run a replica (app/replica): when any does, fence
    returns once every live one has applied the feed up to this write (app.replica.fence).
    """
    replica_fence.after_write(client)


class _Fenced:
    """A registered script whose call returns only after a fence (not when queued on a pipeline:
    the aside keys rebuild batches write are read by no lookup). Its KEYS get the replica feed's
    two keys appended (lua/feed.lua)."""

    def __init__(self, script):
        self.script = script

    def __call__(self, keys=(), args=(), client=None):
        out = self.script(keys=[*keys, *FEED_KEYS], args=args, client=client)
        if client is None or not isinstance(client, redis.client.Pipeline):
            fence(client or self.script.registered_client)
        return out


class Scripts:
    """The scripts registered on one Redis client (EVALSHA with NOSCRIPT fallback). Those that
    change what LOOKUP reads are fenced."""

    def __init__(self, client: redis.Redis):
        self.client = client
        self.write = _Fenced(client.register_script(source("write")))
        self.domain_set = _Fenced(client.register_script(source("domain_set")))
        self.domain_delete = _Fenced(client.register_script(source("domain_delete")))
        self.rebuild_begin = client.register_script(source("rebuild_begin"))
        self.rebuild_batch = client.register_script(source("rebuild_batch"))
        self.rebuild_swap = _Fenced(client.register_script(source("rebuild_swap")))
        self.alias_prune = _Fenced(client.register_script(source("alias_prune")))


_cache: dict[int, Scripts] = {}


def scripts_for(client: redis.Redis) -> Scripts:
    """The Scripts of this client (created once per client object)."""
    s = _cache.get(id(client))
    if s is None or s.client is not client:
        s = _cache[id(client)] = Scripts(client)
    return s
