"""Read live calls from the state (for the API and the supervisor actions).

    find_call(uuid)            -> dict | None   one leg, live or recently hung up
    calls_of(domain, ext)      -> list[dict]    an extension's live legs, oldest first
    list_calls(domain=, extension=, node=) -> list[dict]

A call dict: uuid, node, core_uuid, domain, extension, direction, state (callout, callin,
progress, answer, bridge, unbridge, hangup), answer_state, hungup, caller_id_number,
destination_number, callee_id_number, signal_bond (the other leg's uuid), other_uuid,
channel_name, hangup_cause, created_time / progress_time / answered_time / hangup_time /
last_event_time (µs strings on FreeSWITCH's clock, "0" = not yet).
"""
from __future__ import annotations

import json

from app.extensions import redis_ext
from app.names import is_uuid
from app.state import keys


def _client(client):
    return client if client is not None else redis_ext.client


def _fv(rec: dict, name: str, default: str = "") -> str:
    value = (rec.get("f") or {}).get(name)
    return value if isinstance(value, str) else default


def call_view(rec: dict) -> dict:
    """The public shape of a channel record."""
    t = rec.get("t") or {}
    owner = rec.get("o") or {}
    progress = [v for v in (t.get("Caller-Channel-Progress-Time"),
                            t.get("Caller-Channel-Progress-Media-Time")) if v and v != "0"]
    bond = _fv(rec, "variable_signal_bond") or _fv(rec, "Other-Leg-Unique-ID")
    hungup = bool(rec.get("hs"))
    return {
        "uuid": rec.get("u"), "node": rec.get("node"), "core_uuid": rec.get("core"),
        "domain": owner.get("d"), "extension": owner.get("x"),
        "direction": _fv(rec, "Call-Direction"),
        "state": "hangup" if hungup else rec.get("lb", ""),
        "answer_state": _fv(rec, "Answer-State"), "hungup": hungup,
        "caller_id_number": _fv(rec, "Caller-Caller-ID-Number"),
        "destination_number": _fv(rec, "Caller-Destination-Number"),
        "callee_id_number": _fv(rec, "Caller-Callee-ID-Number"),
        "signal_bond": bond, "other_uuid": _fv(rec, "Other-Leg-Unique-ID") or bond,
        "channel_name": _fv(rec, "Channel-Name"), "hangup_cause": _fv(rec, "Hangup-Cause"),
        "created_time": t.get("Caller-Channel-Created-Time")
        or t.get("Caller-Profile-Created-Time") or "0",
        "progress_time": min(progress, key=int) if progress else "0",
        "answered_time": t.get("Caller-Channel-Answered-Time") or "0",
        "hangup_time": t.get("Caller-Channel-Hangup-Time") or "0",
        "last_event_time": rec.get("ets") or "0",
    }


def _records(client, uuids) -> list[dict]:
    uuids = [u for u in uuids if is_uuid(u)]
    if not uuids:
        return []
    out = []
    for i in range(0, len(uuids), 1000):
        for raw in client.mget([keys.channel(u) for u in uuids[i:i + 1000]]):
            if raw:
                try:
                    out.append(json.loads(raw))
                except ValueError:
                    continue
    return out


def find_call(uuid: str, client=None) -> dict | None:
    """One leg by uuid (live, or hung up within the tombstone TTL; see `hungup`)."""
    if not is_uuid(uuid):
        return None
    recs = _records(_client(client), [uuid])
    if not recs or not recs[0].get("o"):
        return None
    return call_view(recs[0])


def _sorted_live(recs) -> list[dict]:
    views = [call_view(r) for r in recs if r.get("o") and not r.get("hs")]
    views.sort(key=lambda c: (int(c["created_time"] or 0), c["uuid"]))
    return views


def calls_of(domain: str, extension: str, client=None) -> list[dict]:
    """An extension's live legs, oldest first."""
    client = _client(client)
    raw = client.hget(keys.call_state(domain), extension)
    if not raw:
        return []
    live = (json.loads(raw).get("live") or {})
    recs = [r for r in _records(client, list(live))
            if (r.get("o") or {}).get("d") == domain and (r.get("o") or {}).get("x") == extension]
    return _sorted_live(recs)


def known_nodes(client, settings=None) -> list[str]:
    """Configured nodes and every node events came from."""
    names = set(client.smembers(keys.nodes()))
    if settings is not None:
        names.update(n.name for n in settings.freeswitch)
    return sorted(names)


def list_calls(domain: str | None = None, extension: str | None = None, node: str | None = None,
               client=None, settings=None, limit: int = 10000) -> list[dict]:
    """Live legs, filtered by domain / extension / node, oldest first (at most `limit`)."""
    client = _client(client)
    if domain and extension:
        calls = calls_of(domain, extension, client)
    elif domain:
        uuids = []
        for raw in client.hvals(keys.call_state(domain)):
            try:
                uuids.extend(json.loads(raw).get("live") or {})
            except ValueError:
                continue
        calls = _sorted_live(r for r in _records(client, uuids)
                             if (r.get("o") or {}).get("d") == domain)
    else:
        nodes = [node] if node else known_nodes(client, settings)
        uuids = []
        for name in nodes:
            uuids.extend(client.zrange(keys.node_channels(name), 0, limit - 1))
        calls = _sorted_live(_records(client, uuids))
        if extension:
            calls = [c for c in calls if c["extension"] == extension]
    if node:
        calls = [c for c in calls if c["node"] == node]
    return calls[:limit]
