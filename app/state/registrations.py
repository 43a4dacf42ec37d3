"""Read registration state (for the API): who is registered, with which bindings.

The source is `cti_userinfo@<domain>` (SPEC §2), which the state scripts keep equal to the
canonical binding records: `register` is the newest live binding, `bindings` all of them.
"""
from __future__ import annotations

import json

from app.extensions import redis_ext
from app.state import keys
from app.state.calls import calls_of
from app.state.clock import fs_now_us


def _client(client):
    return client if client is not None else redis_ext.client


def _decode(raw) -> dict | None:
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def registration_view(extension: str, info: dict) -> dict:
    """One extension's registration: registered?, newest binding, every binding."""
    register = info.get("register")
    bindings = info.get("bindings") or ([register] if register else [])
    return {"extension": extension, "registered": bool(register),
            "switchname": info.get("FreeSWITCH-Switchname", ""),
            "register": register, "bindings": bindings}


def registrations_of(domain: str, client=None) -> list[dict]:
    """Every registered extension of a domain, by extension name."""
    client = _client(client)
    out = []
    for ext, raw in client.hgetall(keys.userinfo(domain)).items():
        info = _decode(raw)
        if info and info.get("register"):
            out.append(registration_view(ext, info))
    out.sort(key=lambda r: r["extension"])
    return out


def with_durations(calls: list[dict], client) -> list[dict]:
    """Add duration_ms / talk_ms, computed on each call's node clock (strmicroepoch-aligned)."""
    nows: dict = {}
    for call in calls:
        node = call.get("node") or ""
        if node not in nows:
            nows[node] = fs_now_us(client, node)
        now = nows[node]
        created, answered = int(call["created_time"] or 0), int(call["answered_time"] or 0)
        call["duration_ms"] = max(0, (now - created) // 1000) if created else None
        call["talk_ms"] = max(0, (now - answered) // 1000) if answered else None
    return calls


def extension_status(domain: str, extension: str, client=None) -> dict:
    """Registered?, bindings and live calls (with durations) of one extension."""
    client = _client(client)
    info = _decode(client.hget(keys.userinfo(domain), extension)) or {}
    view = registration_view(extension, info)
    view["domain"] = domain
    view["calls"] = with_durations(calls_of(domain, extension, client), client)
    return view
