"""Resync one node's state from FreeSWITCH itself (on every (re)connect, and periodically).

1. Core-UUID changed ("core-uuid-changed" from the listener): that node's calls are dropped
   at once, before FreeSWITCH is even asked (no call survives a restart, facts §7).
2. Ask FreeSWITCH (a command connection, app/esl): `global_getvar core_uuid`, then
   `strmicroepoch` (the time T of the snapshot, and our clock offset), then
   `sofia xmlstatus profile <p> reg` for each configured profile, `show channels as json`
   and `show calls as json`.
3. Merge the snapshot as ops stamped T (app/state/snapshot.py) in one script run. Events
   processed before or after are not lost: the same join rules decide (newer stamp wins, a
   hang-up is final), and calls with an event newer than T - resync_lag_margin are kept.
"""
from __future__ import annotations

import logging
import time

from app.state import keys
from app.state.clock import fs_now_us
from app.state.ingest import BatchResult, run_ops
from app.state.prepare import stamp
from app.state.snapshot import (channel_ops, parse_microepoch, parse_show_json,
                                parse_xmlstatus_reg, registration_ops)

log = logging.getLogger(__name__)

LIVE_READ_STEP = 1000     # members of a node's bindings read per ZSCAN


def drop_core(client, settings, node_name: str, core_uuid: str, now: int | None = None,
              token: int | None = None) -> BatchResult:
    """Make `core_uuid` the node's current core now: calls of any other core hang up."""
    at = now if now is not None else fs_now_us(client, node_name)
    op = {"k": "n", "core": core_uuid, "st": stamp(at, 0)}
    return run_ops(client, settings, node_name, [op], now=now, token=token)


def _optional(fs, cmd, what: str):
    """An API output, or None when FreeSWITCH refuses the command (`-ERR`: e.g. no such
    profile): that part of the snapshot is skipped rather than read as "nothing there"."""
    from app.esl.errors import EslCommandError

    try:
        return fs.api(cmd)
    except EslCommandError as exc:
        log.warning("resync: %s refused by FreeSWITCH (%s); that part is skipped", what, exc)
        return None


def fetch_snapshot(fs, profiles) -> dict:
    """Raw outputs from FreeSWITCH over one command connection (`fs.api(cmd) -> str`)."""
    from app.esl import commands

    out = {"core": fs.api(commands.global_getvar_core_uuid()).strip()}
    before = time.time_ns() // 1000
    out["t"] = parse_microepoch(fs.api(commands.strmicroepoch()))
    after = time.time_ns() // 1000
    out["offset"] = out["t"] - (before + after) // 2
    regs = {p: _optional(fs, commands.sofia_reg_xmlstatus(p), f"profile {p}") for p in profiles}
    out["reg"] = {p: text for p, text in regs.items() if text is not None}
    out["channels"] = _optional(fs, commands.show_channels(), "show channels")
    out["calls"] = _optional(fs, commands.show_calls(), "show calls") if out["channels"] else None
    return out


def snapshot_ops(settings, node, snap: dict, live: dict | None = None,
                 unchanged: dict | None = None) -> list[dict]:
    """All ops for a fetched snapshot (parsing may raise SnapshotError: nothing is applied);
    `live`/`unchanged`: rows the state already has as they are are left out (registration_ops)."""
    state = settings.state
    t_us, core = snap["t"], snap["core"]
    ops = [{"k": "n", "core": core, "st": stamp(t_us, 0)}]
    for profile, text in snap["reg"].items():
        ops += registration_ops(node, profile, parse_xmlstatus_reg(text), t_us, _multi(settings),
                                live, unchanged)
    if snap["channels"] is None:
        return ops
    rows = parse_show_json(snap["channels"])
    calls = parse_show_json(snap["calls"]) if snap["calls"] is not None else []
    ops += channel_ops(rows, calls, t_us, float(state["resync_lag_margin"]), core)
    return ops


def _multi(settings) -> bool:
    return bool(settings.state["multiple_registrations"])


def live_bindings(client, settings, node_name: str) -> dict | None:
    """The node's live bindings in the state (member → stored expiry, µs), or None when a row
    must be sent whatever the state holds: the last resync merged its rows under another
    multiple-registrations setting (each row's op records the setting on its extension)."""
    multi = "1" if _multi(settings) else "0"
    if client.hget(keys.node(node_name), "resync_multi") != multi:
        return None
    # read in steps (one ZRANGE of 10,000 members held Redis ~20 ms under load); a binding
    # added or ended meanwhile may be missed or seen twice: its row is then sent, or the
    # pass finds it gone already
    pairs = client.zscan_iter(keys.node_bindings(node_name), count=LIVE_READ_STEP)
    return {(m.decode("utf-8", "surrogateescape") if isinstance(m, bytes) else m): score
            for m, score in pairs}


def apply_snapshot(client, settings, node, snap: dict, token: int | None = None) -> BatchResult:
    """Merge a fetched snapshot into the state at FreeSWITCH time T: the rows that change
    something, and the passes that end what FreeSWITCH no longer has (app/state/ingest.py
    splits them into script runs)."""
    unchanged: dict = {}
    ops = snapshot_ops(settings, node, snap, live_bindings(client, settings, node.name),
                       unchanged)
    result = run_ops(client, settings, node.name, ops, now=snap["t"], offset=snap["offset"],
                     exact_offset=True, token=token)
    # a row left out whose name now means another extension: the pass moved it, its op adds it
    late = [unchanged[bid]() for bid in result.moved if bid in unchanged]
    if late and not result.stale:
        more = run_ops(client, settings, node.name, late, now=snap["t"], token=token)
        result.applied += more.applied
        result.stale, result.fence = more.stale, more.fence
    result.unchanged = len(unchanged) - len(late)
    return result


def resync_node(client, settings, node_name: str, reason: str, core_uuid: str | None = None,
                connect=None, token: int | None = None) -> dict:
    """Resync one configured node; raises EslUnavailable when FreeSWITCH cannot be asked.

    `connect(node, timeout)` opens a command connection (default: app.esl EslClient).
    `token`: the lease token of the listener that asked (app/state/lease.py); once a newer
    owner holds the node the snapshot is not applied (`status` "stale" in the summary).
    """
    node = settings.node(node_name)
    if node is None:
        raise LookupError(f"unknown FreeSWITCH node {node_name!r}")
    dropped = 0
    if reason == "core-uuid-changed" and core_uuid:
        dropped = drop_core(client, settings, node_name, core_uuid, token=token).removed
    if connect is None:
        from app.esl.connection import EslClient as connect
    with connect(node, settings.esl_connect_timeout) as fs:
        snap = fetch_snapshot(fs, node.profiles)
    result = apply_snapshot(client, settings, node, snap, token=token)
    if result.stale:
        log.warning("resync %s (%s) asked under lease token %s, but the node's fence is now %s "
                    "(a newer listener owns it): snapshot not applied", node_name, reason,
                    token, result.fence)
        return {"node": node_name, "reason": reason, "status": "stale", "token": token,
                "fence": result.fence}
    client.hset(keys.node(node_name), mapping={
        "resync_at": str(snap["t"]), "resync_reason": reason, "resync_removed": result.removed,
        "resync_unchanged": result.unchanged, "resync_token": token or 0,
        "resync_multi": "1" if _multi(settings) else "0"})
    summary = {"node": node_name, "reason": reason, "core_uuid": snap["core"], "t": snap["t"],
               "applied": result.applied, "unchanged": result.unchanged,
               "removed": result.removed, "dropped_at_once": dropped}
    log.info("resync %s (%s): core %s, %d facts applied, %d registrations unchanged, %d removed",
             node_name, reason, snap["core"], result.applied, result.unchanged, result.removed)
    return summary
