"""FreeSWITCH snapshots → state ops (pure: parse raw API outputs, build ops; no I/O).

A snapshot is a set of facts stamped with the FreeSWITCH time `T` read (`strmicroepoch`)
just before it was taken, merged by the same rules as events (facts §7): bindings and calls
FreeSWITCH lacks are gone as of `T` unless an event newer than `T` says otherwise; what it
has and we lack is added, but never over a hung-up channel's tombstone.
"""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET

from app.names import is_domain, is_extension, is_uuid
from app.state.prepare import owner, reg_json, stamp

_STATUS_RE = re.compile(
    r"^(?P<status>.*)\((?P<rpid>[^()]*)\) exp\((?P<exp>[^)]*)\) expsecs\((?P<expsecs>-?\d+)\)$")

REG_FIELDS = ("call-id", "user", "contact", "agent", "status", "ping-status", "ping-time",
              "host", "network-ip", "network-port", "sip-auth-user", "sip-auth-realm",
              "mwi-account")


class SnapshotError(ValueError):
    """FreeSWITCH's output could not be parsed (the resync is abandoned, nothing applied)."""


def parse_xmlstatus_reg(text: str) -> list[dict]:
    """Rows of `sofia xmlstatus profile <p> reg`; `status` split into status, rpid, expsecs."""
    body = (text or "").strip()
    if not body:
        return []
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SnapshotError(f"sofia xmlstatus: not XML: {exc}") from exc
    rows = []
    for reg in root.iter("registration"):
        row = {name: (reg.findtext(name) or "").strip() for name in REG_FIELDS}
        m = _STATUS_RE.match(row["status"])
        if m:
            row["status"], row["rpid"] = m.group("status"), m.group("rpid")
            row["expsecs"] = int(m.group("expsecs"))
        else:
            row["rpid"], row["expsecs"] = "", None
        rows.append(row)
    return rows


def parse_show_json(text: str) -> list[dict]:
    """Rows of `show channels|calls as json` (`{"row_count": 0}` has no `rows`)."""
    try:
        data = json.loads(text or "")
    except json.JSONDecodeError as exc:
        raise SnapshotError(f"show ... as json: not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SnapshotError("show ... as json: not an object")
    rows = data.get("rows") or []
    if not isinstance(rows, list):
        raise SnapshotError("show ... as json: rows is not a list")
    return [r for r in rows if isinstance(r, dict)]


def parse_microepoch(text: str) -> int:
    """`strmicroepoch` output (digits, no newline)."""
    value = (text or "").strip()
    if not value.isdigit():
        raise SnapshotError(f"strmicroepoch: not a number: {value[:40]!r}")
    return int(value)


# --- registrations --------------------------------------------------------------------------

def registration_ops(node, profile: str, rows: list[dict], t_us: int, multi: bool) -> list[dict]:
    """Ops for one profile's rows at FreeSWITCH time t_us: each row alive, the rest gone."""
    st = stamp(t_us, 0)
    np = f"{node.name}\t{profile}"
    present, ops = {}, []
    for row in rows:
        user, _, host = row.get("user", "").rpartition("@")
        call_id = row.get("call-id", "")
        if not is_extension(user) or not is_domain(host) or not call_id or row.get("expsecs") is None:
            continue
        bid = f"{np}\t{call_id}"
        present[bid] = user           # the script checks which extension that name means now
        reg = {
            "Hostname": row.get("host", ""), "IPv4": "", "IPv6": "",
            "cluster_ip": node.host, "cluster_port": str(node.port),
            "network-ip": row.get("network-ip", ""), "user-agent": row.get("agent", ""),
            "status": row.get("status", ""), "Timestamp": str(t_us),
            "FreeSWITCH-Switchname": row.get("host", ""), "call-id": call_id,
            "contact": row.get("contact", ""), "network-port": row.get("network-port", ""),
            "node": node.name, "profile-name": profile, "registered-as": user,
            "fscti-source": "resync",
        }
        event = {
            "Event-Name": "CUSTOM", "Event-Subclass": "sofia::register",
            "FreeSWITCH-Hostname": row.get("host", ""), "Event-Date-Timestamp": str(t_us),
            "profile-name": profile, "from-user": user, "from-host": host,
            "contact": row.get("contact", ""), "call-id": call_id,
            "rpid": row.get("rpid", ""), "status": row.get("status", ""),
            "expires": str(row["expsecs"]), "network-ip": row.get("network-ip", ""),
            "network-port": row.get("network-port", ""),
            "username": row.get("sip-auth-user", ""), "realm": row.get("sip-auth-realm", ""),
            "user-agent": row.get("agent", ""), "fscti-source": "resync",
        }
        ops.append({
            "k": "r", "typ": "snap", "o": owner(host, user), "as": user, "np": np, "bid": bid,
            "cid": call_id, "node": node.name, "st": st,
            "ts": str(t_us), "contact": row.get("contact", ""), "multi": multi,
            # expsecs = stored expiry - now, in whole seconds, late margin included
            # (EXPSECS(3660) for a 3600 s registration)
            "exp": str((t_us // 1_000_000 + max(0, row["expsecs"])) * 1_000_000),
            "reg": reg_json(reg), "sw": row.get("host", ""),
            "ev": json.dumps(event, ensure_ascii=False, separators=(",", ":")),
        })
    gone = {"k": "rs", "st": st, "np": {np: True}, "present": present}
    return [gone] + ops


# --- calls ----------------------------------------------------------------------------------

_CALLSTATE_LABEL = {"ACTIVE": "answer", "HELD": "answer", "UNHELD": "answer",
                    "RINGING": "progress", "EARLY": "progress", "RING_WAIT": "progress"}
_CALLSTATE_ANSWER = {"ACTIVE": "answered", "HELD": "answered", "UNHELD": "answered",
                     "EARLY": "early", "HANGUP": "hangup"}


def channel_bonds(calls: list[dict]) -> dict:
    """uuid → other leg's uuid, from `show calls` (one row per bridged pair)."""
    bonds = {}
    for row in calls:
        a, b = row.get("uuid"), row.get("b_uuid")
        if is_uuid(a) and is_uuid(b):
            bonds[a], bonds[b] = b, a
    return bonds


def channel_owner(row: dict) -> dict | None:
    """The user of a channel we have no events for: its presence_id (the script adopts the leg
    only if the directory mirror knows that name, as an extension or its alias: `dir`)."""
    ext, _, dom = (row.get("presence_id") or "").partition("@")
    if not is_extension(ext) or not is_domain(dom):
        return None
    return owner(dom, ext)


def channel_ops(rows: list[dict], calls: list[dict], t_us: int, margin_s: float, core: str
                ) -> list[dict]:
    """Ops for a `show channels` snapshot at t_us: missing ones hang up, unknown ones appear."""
    st = stamp(t_us, 0)
    bonds = channel_bonds(calls)
    present, ops = {}, []
    for row in rows:
        uuid = row.get("uuid")
        if not is_uuid(uuid):
            continue
        present[uuid] = True
        owner = channel_owner(row)
        if owner is None:
            continue
        direction = row.get("direction", "")
        callstate = row.get("callstate", "")
        label = _CALLSTATE_LABEL.get(callstate) or ("callout" if direction == "inbound" else "callin")
        bond = bonds.get(uuid) or (row.get("call_uuid") if row.get("call_uuid") != uuid else "")
        f = {"Call-Direction": direction, "Channel-Name": row.get("name", ""),
             "Caller-Caller-ID-Number": row.get("cid_num", ""),
             "Caller-Destination-Number": row.get("dest", ""),
             "Caller-Callee-ID-Number": row.get("callee_num", ""),
             "Answer-State": _CALLSTATE_ANSWER.get(callstate, "ringing"),
             "FreeSWITCH-Switchname": row.get("hostname", "")}
        if is_uuid(bond):
            f["variable_signal_bond"] = bond
        t = {}
        epoch = row.get("created_epoch", "")
        if epoch.isdigit():
            t["Caller-Channel-Created-Time"] = str(int(epoch) * 1_000_000)
        ops.append({"k": "c", "u": uuid, "st": st, "ts": str(t_us),
                    "core": core, "lb": label, "term": False, "own": True, "snap": True, "dir": True,
                    "o": owner, "f": f, "t": t})
    cut = stamp(max(0, t_us - int(margin_s * 1_000_000)), 0)
    gone = {"k": "cs", "st": st, "cut": cut, "present": present}
    return [gone] + ops
