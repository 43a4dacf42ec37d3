"""Redis lost its data: notice it at once, heal it once (docs/redis-loss.md).

The marker `fscti:generation` (keys.generation) is written once per data generation.
`check()` (the listener and the beat tick) compares it with the server in one atomic script
run, so of all the processes that notice a loss (marker gone), a restart (`run_id` changed)
or an unfinished heal (`healing` past `heal_until`), exactly one claims it and queues the
heal task (`fscti.redis.heal`); a claim whose task cannot be queued is released at once.
What each case rebuilds, and the marker's fields: docs/redis-loss.md.
"""
from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass

from app.state import keys

log = logging.getLogger("fscti.redis")

LEASE_MS = 60_000     # a heal not heard from for this long is claimed again

# KEYS: marker. ARGV: run_id, new id, lease ms. Returns {verdict, id, reason}.
_CLAIM = r"""
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = now + tonumber(ARGV[3])
local cur = redis.call('HMGET', KEYS[1], 'id', 'run_id', 'state', 'heal_until', 'reason')
if not cur[1] then
  redis.call('HSET', KEYS[1], 'id', ARGV[2], 'run_id', ARGV[1], 'state', 'healing',
             'reason', 'lost', 'since', now, 'heal_until', due)
  return {'claimed', ARGV[2], 'lost'}
end
if cur[2] ~= ARGV[1] then
  local reason = 'restarted'
  if cur[3] == 'healing' and cur[5] == 'lost' then reason = 'lost' end
  redis.call('HSET', KEYS[1], 'run_id', ARGV[1], 'state', 'healing', 'reason', reason,
             'since', now, 'heal_until', due)
  return {'claimed', cur[1], reason}
end
if cur[3] == 'healing' and tonumber(cur[4] or '0') < now then
  redis.call('HSET', KEYS[1], 'heal_until', due)
  return {'reclaimed', cur[1], cur[5] or 'lost'}
end
return {'ok', cur[1], cur[3] or ''}
"""

# KEYS: marker. ARGV: id, what (extend | done | release), lease ms. 1 if the generation is ours.
_UPDATE = r"""
if redis.call('HGET', KEYS[1], 'id') ~= ARGV[1] then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if ARGV[2] == 'done' then
  redis.call('HSET', KEYS[1], 'state', 'ok', 'healed_at', now)
  redis.call('HDEL', KEYS[1], 'heal_until')
elseif ARGV[2] == 'release' then
  redis.call('HSET', KEYS[1], 'heal_until', 0)
elseif redis.call('HGET', KEYS[1], 'state') == 'healing' then
  redis.call('HSET', KEYS[1], 'heal_until', now + tonumber(ARGV[3]))
end
return 1
"""

# KEYS: marker. ARGV: run_id, new id. A fresh generation in state ok, unless one exists.
_STAMP = r"""
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = redis.call('TIME')
redis.call('HSET', KEYS[1], 'id', ARGV[2], 'run_id', ARGV[1], 'state', 'ok',
           'reason', 'stamped', 'since', tonumber(t[1]) * 1000)
return 1
"""


@dataclass(frozen=True)
class Claim:
    """A heal this process must queue: `reason` is `lost` or `restarted`."""

    generation: str
    reason: str
    again: bool = False      # a claimed heal that never finished, claimed once more


def run_id(client) -> str:
    """The Redis server's run_id: a new one after every restart and on every failover."""
    return str(client.info("server")["run_id"])


def _script(client, body: str):
    return client.register_script(body)


def check(client, lease_ms: int = LEASE_MS) -> Claim | None:
    """Compare the marker with the server; a Claim when this caller must queue the heal."""
    verdict, gen, reason = _script(client, _CLAIM)(
        keys=[keys.generation()], args=[run_id(client), secrets.token_hex(8), int(lease_ms)])
    verdict, gen, reason = (_text(verdict), _text(gen), _text(reason))
    if verdict == "ok":
        return None
    return Claim(gen, reason, again=verdict == "reclaimed")


def stamp(client) -> bool:
    """Start a generation in state `ok` if there is none (the caller rebuilds the mirror
    itself: `flask mirror rebuild`, a fresh test database); False when one exists."""
    return bool(_script(client, _STAMP)(keys=[keys.generation()],
                                        args=[run_id(client), secrets.token_hex(8)]))


def extend(client, generation: str, lease_ms: int = LEASE_MS) -> bool:
    """The heal of `generation` is still at work: push `heal_until` on."""
    return _update(client, generation, "extend", lease_ms)


def healed(client, generation: str) -> bool:
    """The heal of `generation` is done."""
    return _update(client, generation, "done")


def release(client, generation: str) -> bool:
    """The heal could not be queued: let the next check claim it again at once."""
    return _update(client, generation, "release")


def _update(client, generation: str, what: str, lease_ms: int = LEASE_MS) -> bool:
    return bool(_script(client, _UPDATE)(keys=[keys.generation()],
                                         args=[generation, what, int(lease_ms)]))


def current(client) -> dict:
    """The marker's fields ({} when Redis has none)."""
    return {_text(k): _text(v) for k, v in client.hgetall(keys.generation()).items()}


def watch(client, queue_heal, who: str, lease_ms: int = LEASE_MS) -> Claim | None:
    """One check; on a claim, log it and `queue_heal(claim)` (released again if that raises)."""
    claim = check(client, lease_ms)
    if claim is None:
        return None
    if claim.again:
        log.warning("Redis heal of generation %s (%s) did not finish in time; queued again by %s",
                    claim.generation, claim.reason, who)
    elif claim.reason == "lost":
        log.warning("Redis lost its data (no generation marker): %s queues a rebuild of the "
                    "directory mirror from SQL and a resync of every FreeSWITCH node "
                    "(generation %s)", who, claim.generation)
    else:
        log.warning("Redis restarted with its data (new run_id): %s queues a reconcile of the "
                    "directory mirror and a resync of every FreeSWITCH node (generation %s)",
                    who, claim.generation)
    try:
        queue_heal(claim)
    except BaseException:
        try:
            release(client, claim.generation)
        except Exception:                     # Redis went away again: the lease runs out
            pass
        raise
    return claim


def queue_heal(celery, claim: Claim) -> None:
    """Send the heal task for a claim (raises when the broker does not take it). The tick's
    periodic resync of every node is marked as done first: the heal sends those resyncs.
    Called by whoever won the claim: the listener, the tick, or a mirror write that found the
    marker gone (app.mirror.write)."""
    from flask import current_app

    from app import tasknames
    from app.extensions import redis_ext

    settings = current_app.config["FSCTI"]
    interval_ms = max(1, int(float(settings.state["resync_interval"]) * 1000))
    for node in settings.freeswitch:
        redis_ext.client.set(keys.state_tick(f"resync-{node.name}"), "1", px=interval_ms)
    celery.send_task(tasknames.REDIS_HEAL, args=[claim.generation, claim.reason], queue="celery",
                     retry=False, ignore_result=True)


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
