"""What the console shows, read from the Redis keys of docs/redis-keys.md (never written here).

One row per extension of a domain, compact for the browser:

    {"x": "1001", "n": "Extension 1001", "a": "5001", "dis": false,
     "reg": {"ip": "192.0.2.7", "port": "5060", "ua": "Yealink", "st": "Registered(UDP)",
             "exp": "1795674186000000", "node": "fs1", "n": 1} | null,
     "calls": [{"u": uuid, "b": other leg, "dir": "out" | "in", "num": "1002",
                "c": created µs, "p": progress µs, "a": answered µs}]}

Sources: `cti_exten@<d>` (enabled extensions: name from `effective_caller_id_name`, the
`number-alias`; the secrets in it never leave this module), `fscti:disabled@<d>`, and
`cti_userinfo@<d>` (registration and live calls). `dir` is the extension's view: "out" for a
call it places (FreeSWITCH's inbound leg), "in" for one it receives. Times are µs strings on
FreeSWITCH's clock; the browser computes durations from the `now` sent beside them.
"""
from __future__ import annotations

import json

from app.state import keys
from app.state.clock import fs_now_us


def _json(raw) -> dict:
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _s(value) -> str:
    return value if isinstance(value, str) else ("" if value is None else str(value))


def directory_row(ext: str, raw) -> dict:
    entry = _json(raw)
    variable = entry.get("variable") if isinstance(entry.get("variable"), dict) else {}
    attribute = entry.get("attribute") if isinstance(entry.get("attribute"), dict) else {}
    return {"x": ext, "n": _s(variable.get("effective_caller_id_name")),
            "a": _s(attribute.get("number-alias")), "dis": False}


def live_part(raw) -> dict:
    """The `reg` and `calls` of a row from a `cti_userinfo@` value (absent = neither)."""
    info = _json(raw)
    reg = None
    register = info.get("register")
    if isinstance(register, dict):
        bindings = info.get("bindings") if isinstance(info.get("bindings"), list) else []
        first = bindings[0] if bindings and isinstance(bindings[0], dict) else {}
        reg = {"ip": _s(register.get("network-ip")), "port": _s(register.get("network-port")),
               "ua": _s(register.get("user-agent")), "st": _s(register.get("status")),
               "exp": _s(first.get("expires-at")), "node": _s(register.get("node")),
               "n": len(bindings) or 1}
    calls = []
    for call in info.get("calls") if isinstance(info.get("calls"), list) else []:
        if not isinstance(call, dict):
            continue
        calls.append({
            "u": _s(call.get("Unique-ID")), "b": _s(call.get("Signal-Bond")),
            "dir": "in" if call.get("Call-Direction") == "outbound" else "out",
            "num": _s(call.get("Call-Number")), "c": _s(call.get("Created-Time")) or "0",
            "p": _s(call.get("Progress-Time")) or "0", "a": _s(call.get("Answered-Time")) or "0"})
    return {"reg": reg, "calls": calls}


def domains(client) -> list[str]:
    return sorted(client.hkeys(keys.domains()))


def snapshot(client, domain: str, limit: int) -> dict:
    """Every extension of `domain` (at most `limit`), sorted by name, with its live part."""
    pipe = client.pipeline(transaction=False)
    pipe.hgetall(keys.exten(domain))
    pipe.smembers(keys.disabled(domain))
    pipe.hgetall(keys.userinfo(domain))
    directory, disabled, userinfo = pipe.execute()
    rows = {ext: directory_row(ext, raw) for ext, raw in directory.items()}
    for ext in disabled:
        rows.setdefault(ext, {"x": ext, "n": "", "a": "", "dis": True})["dis"] = True
    for ext, raw in userinfo.items():
        row = rows.setdefault(ext, {"x": ext, "n": "", "a": "", "dis": False})
        row.update(live_part(raw))
    out = []
    for ext in sorted(rows)[:limit]:
        row = rows[ext]
        row.setdefault("reg", None)
        row.setdefault("calls", [])
        out.append(row)
    return {"domain": domain, "rows": out, "total": len(rows), "truncated": len(rows) > limit}


def changed_rows(client, domain: str, exts: list[str]) -> list[dict]:
    """The live part of each extension named by the change feed (absent = no registration, no
    call), with the `x` it belongs to."""
    exts = sorted(set(exts))
    if not exts:
        return []
    values = client.hmget(keys.userinfo(domain), exts)
    return [dict(live_part(raw), x=ext) for ext, raw in zip(exts, values)]


def fs_now(client, settings) -> int:
    """FreeSWITCH's clock (µs) by the offset of the first configured node (else the first node
    events came from); our clock when none is known yet."""
    names = [n.name for n in settings.freeswitch] or sorted(client.smembers(keys.nodes()))
    return fs_now_us(client, names[0] if names else "")
