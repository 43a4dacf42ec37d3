"""FreeSWITCH's clock per node: ours plus the offset kept in `fscti:node:<name>`.

The offset is measured exactly by each resync (`strmicroepoch`, facts §7) and estimated
between resyncs from events (created - received); durations use it, as SPEC §2 asks for
the server's clock.
"""
from __future__ import annotations

import time

from app.state import keys


def offset_us(client, node: str) -> int:
    """FreeSWITCH minus our clock (µs) for a node; 0 when not yet known."""
    if not node:
        return 0
    raw = client.hget(keys.node(node), "offset")
    try:
        return int(raw) if raw is not None else 0
    except ValueError:
        return 0


def fs_now_us(client, node: str) -> int:
    """The node's current time in µs (FreeSWITCH's clock, as in Event-Date-Timestamp)."""
    return time.time_ns() // 1000 + offset_us(client, node)
