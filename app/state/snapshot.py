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
    rows = _fast_rows(body)
    if rows is None:
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise SnapshotError(f"sofia xmlstatus: not XML: {exc}") from exc
        rows = [{name: (reg.findtext(name) or "").strip() for name in REG_FIELDS}
                for reg in root.iter("registration")]
    for row in rows:
        m = _STATUS_RE.match(row["status"])
        if m:
            row["status"], row["rpid"] = m.group("status"), m.group("rpid")
            row["expsecs"] = int(m.group("expsecs"))
        else:
            row["rpid"], row["expsecs"] = "", None
    return rows


# FreeSWITCH writes this document itself (sofia.c: one line per element, text values
# entity-encoded), so its rows are read with two expressions, ~10x faster than building the
# tree (10,000 phones: ~6 MB, ~0.5 s of CPU in ElementTree). Anything else it does not
# expect (a comment, CDATA, an attribute, an unknown entity, a document cut short) goes to
# the XML parser, which reads it or refuses it.
_DOC_RE = re.compile(r"\A(?:<\?xml[^>]*\?>\s*)?<([A-Za-z][\w.-]*)>(.*)</\1>\Z", re.S)
_REG_OPEN_RE = re.compile(r"<registration[\s/>]")
_FIELD_RE = re.compile(r"<([A-Za-z][\w.-]*)>([^<]*)</\1>")
_ENTITY_RE = re.compile(r"&(?:(lt|gt|amp|quot|apos)|#(\d{1,7})|#x([0-9A-Fa-f]{1,6}));")
_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"', "apos": "'"}


def _entity(m) -> str:
    if m.group(1):
        return _ENTITIES[m.group(1)]
    code = int(m.group(2)) if m.group(2) else int(m.group(3), 16)
    if not (code in (0x9, 0xA, 0xD) or 0x20 <= code <= 0xD7FF or 0xE000 <= code <= 0xFFFD
            or 0x10000 <= code <= 0x10FFFF):
        raise ValueError(f"&#{code}; is no character of XML's")
    return chr(code)


def _fast_rows(body: str) -> list[dict] | None:
    """The rows of a document in FreeSWITCH's own shape, or None (let the parser decide)."""
    doc = _DOC_RE.match(body)
    if doc is None or "<!" in body or "<?" in doc.group(2):
        return None
    inner = doc.group(2)
    parts = inner.split("<registration>")
    if len(parts) - 1 != len(_REG_OPEN_RE.findall(inner)):
        return None
    rows = []
    for part in parts[1:]:
        block, end, _ = part.partition("</registration>")
        if not end:
            return None
        fields = dict(_FIELD_RE.findall(block))
        if block.count("<") != 2 * len(fields):
            return None
        row = {name: fields.get(name, "") for name in REG_FIELDS}
        for name, value in row.items():
            if "&" in value:
                if _ENTITY_RE.sub("", value).count("&"):
                    return None           # not an entity of XML's: the parser refuses it
                try:
                    value = _ENTITY_RE.sub(_entity, value)
                except ValueError:
                    return None
            row[name] = value.strip()
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

# A snapshot's expiry is known to the second only (expsecs is whole seconds, from a clock
# FreeSWITCH read after our `strmicroepoch`): a stored expiry this much older is the same one.
EXPIRY_RESOLUTION_US = 1_000_000


def registration_ops(node, profile: str, rows: list[dict], t_us: int, multi: bool,
                     live: dict | None = None, unchanged: dict | None = None) -> list[dict]:
    """Ops for one profile's rows at FreeSWITCH time t_us: each row alive, the rest gone.

    `live`: the node's live bindings as the state has them (`keys.node_bindings`: member →
    stored expiry). A row that is one of them, under the extension it registered as, with an
    expiry no later (to the snapshot's second) would change nothing: it is left out of the
    ops, and `unchanged[bid]` builds its op should the script find it moved (an alias that now
    means another extension, `BatchResult.moved`)."""
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
        # expsecs = stored expiry - now, in whole seconds, late margin included
        # (EXPSECS(3660) for a 3600 s registration)
        exp = (t_us // 1_000_000 + max(0, row["expsecs"])) * 1_000_000
        if live is not None:
            stored = live.get(f"{host}\t{user}\t{bid}")
            if stored is not None and stored >= exp - EXPIRY_RESOLUTION_US:
                if unchanged is not None:
                    unchanged[bid] = (lambda row=row, user=user, host=host, exp=exp:
                                      _row_op(node, profile, row, user, host, exp, st, t_us, multi))
                continue
        ops.append(_row_op(node, profile, row, user, host, exp, st, t_us, multi))
    if live is None:
        return [{"k": "rs", "st": st, "np": {np: True}, "present": present}] + ops
    return _passes(live, np, present, st) + ops


# bindings one registrations pass visits in a script run (with `live`: each is ~10 µs of
# Redis, the pass over a node of 10,000 in one run held Redis >100 ms)
PASS_MEMBERS = 1000


def _passes(live: dict, np: str, present: dict, st: str) -> list[dict]:
    """The registrations pass over `live`'s bindings of np, cut into `rs` ops of
    PASS_MEMBERS named members, each with the rows it looks up (the script checks that a
    member is still live: one that an event ended meanwhile is left as it is)."""
    if any(m.count("\t") != 4 for m in live):
        # members in an older shape: the pass over the whole node rewrites them
        return [{"k": "rs", "st": st, "np": {np: True}, "present": present}]
    mine = sorted(m for m in live if m.split("\t", 2)[2].rpartition("\t")[0] == np)
    ops = []
    for i in range(0, len(mine), PASS_MEMBERS):
        members = mine[i:i + PASS_MEMBERS]
        seen = {}
        for m in members:
            bid = m.split("\t", 2)[2]
            if bid in present:
                seen[bid] = present[bid]
        ops.append({"k": "rs", "st": st, "np": {np: True}, "m": members, "present": seen})
    return ops


def _row_op(node, profile: str, row: dict, user: str, host: str, exp: int, st: str, t_us: int,
            multi: bool) -> dict:
    """The op of one `sofia xmlstatus` row: FreeSWITCH has this binding at t_us."""
    np = f"{node.name}\t{profile}"
    call_id = row["call-id"]
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
    return {
        "k": "r", "typ": "snap", "o": owner(host, user), "as": user, "np": np,
        "bid": f"{np}\t{call_id}", "cid": call_id, "node": node.name, "st": st,
        "ts": str(t_us), "contact": row.get("contact", ""), "multi": multi,
        "exp": str(exp), "reg": reg_json(reg), "sw": row.get("host", ""),
        "ev": json.dumps(event, ensure_ascii=False, separators=(",", ":")),
    }


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
