"""Periodic upkeep of the state (celery beat, `fscti.state.tick`).

- Expiry: a binding whose stored expiry (register time + granted expires + late margin,
  facts §4.3) passed without a refresh leaves the outputs, even if `sofia::expire` never came.
- Stale calls: a live call with no event for `call_stale_after` seconds makes its node due for
  a resync, which removes it if FreeSWITCH no longer has it.
- Periodic resync of every configured node every `resync_interval` seconds.
"""
from __future__ import annotations

import logging

from app.state import keys
from app.state.calls import known_nodes
from app.state.clock import fs_now_us
from app.state.ingest import run_ops

log = logging.getLogger(__name__)


def expire_bindings(client, settings, node_name: str, now: int | None = None) -> int:
    """Recompute every extension of a node whose binding expiry passed; returns bindings left."""
    run_ops(client, settings, node_name, [{"k": "sw"}], now=now)
    if now is None:
        now = fs_now_us(client, node_name)
    return client.zcount(keys.node_bindings(node_name), "-inf", now)


def stale_calls(client, settings, node_name: str, now: int | None = None) -> list[str]:
    """Live calls of a node without any event for `call_stale_after` seconds."""
    if now is None:
        now = fs_now_us(client, node_name)
    limit = now - int(float(settings.state["call_stale_after"]) * 1_000_000)
    return client.zrangebyscore(keys.node_channels(node_name), "-inf", limit, start=0, num=1000)


def _due(client, job: str, every_s: float) -> bool:
    """True at most once every `every_s` seconds across all beat/worker processes."""
    return bool(client.set(keys.state_tick(job), "1", nx=True, px=max(1, int(every_s * 1000))))


def tick(client, settings, enqueue_resync) -> dict:
    """One beat tick: sweep expiries, and call `enqueue_resync(node, reason)` where due."""
    state = settings.state
    done = {"swept": [], "resync": []}
    configured = {n.name for n in settings.freeswitch}
    if _due(client, "sweep", float(state["sweep_interval"])):
        for name in known_nodes(client, settings):
            expire_bindings(client, settings, name)
            done["swept"].append(name)
            if name in configured and stale_calls(client, settings, name):
                if _due(client, f"stale-{name}", float(state["sweep_interval"]) * 4):
                    enqueue_resync(name, "stale-calls")
                    done["resync"].append((name, "stale-calls"))
    for name in sorted(configured):
        if _due(client, f"resync-{name}", float(state["resync_interval"])):
            enqueue_resync(name, "periodic")
            done["resync"].append((name, "periodic"))
    return done
