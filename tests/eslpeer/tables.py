"""A peer's own registrations and channels, as FreeSWITCH keeps them, for exactness checks.

    tables = PeerTables(peer, node="fs1")      # answers the resync's snapshot commands
    tables.register("3001", "c-3001@h")        # a sofia::register event, and the table row
    tables.unregister("c-3001@h")
    tables.call_event(body)                    # a synthetic call's event (SyntheticCalls.render)
    tables.expected() == state_view(rdb, "fs1")   # what the live state must end as

The peer answers `sofia xmlstatus profile <p> reg`, `show channels as json` and
`show calls as json` from these tables (read under the same lock as the events it emits,
so a snapshot and the event stream always agree; the rows rendered outside it, so a snapshot
of 10,000 registrations does not hold the node's events), which is what a real FreeSWITCH does; a
listener taking the node over resyncs from them. `expected()` and `state_view()` render
the peer's tables and the state in Redis in one shape: registrations
{(domain, extension): sorted call-ids of the node's bindings} and channels {uuid: extension}
(live legs: a leg that got CHANNEL_HANGUP is no longer a call, though FreeSWITCH still lists
it until CHANNEL_DESTROY).

Registration events are rendered from one compiled template (a few holes), so a benchmark's
40,000 refreshing phones cost the peer little CPU.
"""
from __future__ import annotations

import json
import threading
import time
from xml.sax.saxutils import escape

from tests.eslpeer.fixtures import wire_events

_HOLE = "\u2063"    # a hole's mark in the template text (INVISIBLE SEPARATOR: not in events)
_HOLE_FIELDS = {"from-user": "X", "to-user": "X", "username": "X", "user_name": "X",
                "number_alias": "X", "sip_number_alias": "X", "sip_auth_username": "X",
                "effective_caller_id_number": "X", "call-id": "I", "expires": "P",
                "contact": "K", "network-port": "N", "Event-Date-Timestamp": "E",
                "Event-Sequence": "Q", "Core-UUID": "C", "from-host": "D", "to-host": "D",
                "realm": "D", "sip_auth_realm": "D", "domain_name": "D", "presence-hosts": "D"}


# `show channels` columns, and the event header each comes from
_COLUMNS = (("direction", "Call-Direction"), ("name", "Channel-Name"), ("state", "Channel-State"),
            ("cid_num", "Caller-Caller-ID-Number"), ("dest", "Caller-Destination-Number"),
            ("presence_id", "variable_presence_id"), ("callstate", "Channel-Call-State"),
            ("callee_num", "Caller-Callee-ID-Number"), ("call_uuid", "Channel-Call-UUID"))


class _Compiled:
    """A captured event as JSON text with holes, rendered by joining strings."""

    def __init__(self, subclass: str):
        event = dict(next(w.event for w in wire_events() if w.event.get("Event-Subclass") == subclass))
        for name, hole in _HOLE_FIELDS.items():
            if name in event:
                event[name] = f"{_HOLE}{hole}{_HOLE}"
        self.parts = json.dumps(event, separators=(",", ":"), ensure_ascii=False).split(_HOLE)

    def render(self, values: dict) -> bytes:
        parts = self.parts
        out = [parts[0]]
        for i in range(1, len(parts), 2):
            out.append(values[parts[i]])
            out.append(parts[i + 1])
        return "".join(out).encode("utf-8")


class PeerTables:
    """Registrations and channels of one EslPeer; the snapshot commands answered from them."""

    def __init__(self, peer, node: str, domain: str = "127.0.0.1", profile: str = "internal"):
        self.peer, self.node, self.domain, self.profile = peer, node, domain, profile
        self.lock = threading.Lock()
        self.regs: dict[str, dict] = {}        # call-id -> {ext, expires_at, port}
        self.chans: dict[str, dict] = {}       # uuid -> show channels row
        self.bonds: dict[str, str] = {}        # a-leg uuid -> b-leg uuid (bridged)
        self.hungup: set[str] = set()          # channels hanging up (not yet destroyed)
        self.events = 0
        self.sent: list[int] | None = None     # a list: every channel event's stamp (µs) goes in
        self._reg = _Compiled("sofia::register")
        self._unreg = _Compiled("sofia::unregister")
        peer.api.set(f"sofia xmlstatus profile {profile} reg", lambda _a: self.xmlstatus())
        peer.api.set("show channels as json", lambda _a: self.show_channels())
        peer.api.set("show calls as json", lambda _a: self.show_calls())

    # -- events ------------------------------------------------------------------------------
    def _values(self, ext: str, call_id: str, expires: int, port: str) -> dict:
        # inserted into JSON strings as they are: only the contact needs escaping (its quotes)
        return {"X": ext, "I": call_id, "P": str(expires), "N": port, "D": self.domain,
                "K": '\\"\\" <sip:%s@127.0.0.1:%s>' % (ext, port), "C": self.peer.core_uuid,
                "E": str(time.time_ns() // 1000), "Q": str(next(self.peer.sequence))}

    def register(self, ext: str, call_id: str, expires: int = 3600, port: str = "5090") -> None:
        """The phone registers (or refreshes): the row, then its sofia::register event."""
        with self.lock:
            self.regs[call_id] = {"ext": ext, "expires_at": time.time() + expires, "port": port}
            body = self._reg.render(self._values(ext, call_id, expires, port))
            self._send("CUSTOM", "sofia::register", body)

    def unregister(self, call_id: str) -> None:
        """The phone unregisters: the row goes, then its sofia::unregister event."""
        with self.lock:
            row = self.regs.pop(call_id)
            body = self._unreg.render(self._values(row["ext"], call_id, 0, row["port"]))
            self._send("CUSTOM", "sofia::unregister", body)

    def call_event(self, name: str, subclass: str | None, body: bytes) -> None:
        """A channel event (e.g. from SyntheticCalls.render): the channel table, then the event."""
        event = json.loads(body)
        with self.lock:
            self._track(event)
            if self._send(name, subclass, body) and self.sent is not None:
                self.sent.append(int(event["Event-Date-Timestamp"]))

    def _send(self, name: str, subclass: str | None, body: bytes) -> int:
        self.events += 1
        return self.peer.emit_frame(name, subclass, body, block=True)

    def _track(self, e: dict) -> None:
        uuid, name = e.get("Unique-ID"), e.get("Event-Name")
        if not uuid:
            return
        if name == "CHANNEL_DESTROY":
            self.chans.pop(uuid, None)
            self.bonds.pop(uuid, None)
            self.hungup.discard(uuid)
            for a, b in list(self.bonds.items()):
                if b == uuid:
                    del self.bonds[a]
            return
        if name == "CHANNEL_BRIDGE":
            a, b = e.get("Bridge-A-Unique-ID"), e.get("Bridge-B-Unique-ID")
            if a and b:
                self.bonds[a] = b
        if name != "CHANNEL_CREATE" and uuid not in self.chans:
            return
        row = self.chans.setdefault(uuid, {
            "uuid": uuid, "created_epoch": str(int(time.time())), "call_uuid": uuid,
            "hostname": self.peer.hostname})
        # each event updates what it carries (not every event carries the variables)
        for column, header in _COLUMNS:
            value = e.get(header)
            if value:
                row[column] = value
        created = int(e.get("Caller-Channel-Created-Time") or 0) // 1_000_000
        if created:
            row["created_epoch"] = str(created)
        if name in ("CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE"):
            self.hungup.add(uuid)   # still listed until destroyed, but no longer a live call

    # -- the snapshot commands ---------------------------------------------------------------
    def xmlstatus(self) -> str:
        # the table as of one instant, read under the lock (each row is a dict that register()
        # replaces, never changes); rendered outside it, as FreeSWITCH renders a query's rows
        # while its sessions go on firing events
        with self.lock:
            now = time.time()
            regs = list(self.regs.items())
        rows = []
        for call_id, r in regs:
            secs = max(0, int(r["expires_at"] - now))
            user = f"{r['ext']}@{self.domain}"
            contact = escape('"" <sip:%s@127.0.0.1:%s>' % (r["ext"], r["port"]))
            rows.append(
                "    <registration>\n"
                f"        <call-id>{escape(call_id)}</call-id>\n"
                f"        <user>{escape(user)}</user>\n"
                f"        <contact>{contact}</contact>\n"
                "        <agent>eslpeer</agent>\n"
                f"        <status>Registered(UDP)(unknown) exp(x) expsecs({secs})</status>\n"
                "        <ping-status>Reachable</ping-status>\n"
                f"        <host>{self.peer.hostname}</host>\n"
                "        <network-ip>127.0.0.1</network-ip>\n"
                f"        <network-port>{r['port']}</network-port>\n"
                f"        <sip-auth-user>{r['ext']}</sip-auth-user>\n"
                f"        <sip-auth-realm>{self.domain}</sip-auth-realm>\n"
                f"        <mwi-account>{escape(user)}</mwi-account>\n"
                "    </registration>\n")
        return ('<?xml version="1.0" encoding="ISO-8859-1"?>\n<profile>\n  <registrations>\n'
                + "".join(rows) + "  </registrations>\n</profile>\n")

    def show_channels(self) -> str:
        with self.lock:
            rows = [dict(r) for r in self.chans.values()]
        return _rows(rows)

    def show_calls(self) -> str:
        with self.lock:
            rows = [{"uuid": a, "b_uuid": b} for a, b in self.bonds.items()
                    if a in self.chans and b in self.chans]
        return _rows(rows)

    # -- exactness ---------------------------------------------------------------------------
    def expected(self) -> dict:
        """The tables in the state's shape (see state_view)."""
        with self.lock:
            regs: dict = {}
            for call_id, r in self.regs.items():
                regs.setdefault((self.domain, r["ext"]), []).append(call_id)
            chans = {u: r.get("presence_id", "").partition("@")[0] for u, r in self.chans.items()
                     if u not in self.hungup}
        return {"registrations": {k: sorted(v) for k, v in regs.items()}, "channels": chans}


def _rows(rows: list) -> str:
    if not rows:
        return '{"row_count": 0}\n'
    return json.dumps({"row_count": len(rows), "rows": rows}) + "\n"


def state_view(client, node: str, domain: str = "127.0.0.1") -> dict:
    """The live state of one node in Redis, in PeerTables.expected()'s shape: the node's
    bindings per (domain, extension) from `cti_userinfo@<domain>` and its live legs."""
    from app.state import keys
    from app.state.calls import list_calls

    regs: dict = {}
    for ext, raw in client.hgetall(keys.userinfo(domain)).items():
        try:
            info = json.loads(raw)
        except ValueError:
            continue
        bindings = info.get("bindings") or ([info["register"]] if info.get("register") else [])
        ids = sorted(b.get("call-id") for b in bindings if b.get("node") == node)
        if ids:
            regs[(domain, ext)] = ids
    chans = {c["uuid"]: c["extension"] for c in list_calls(node=node, client=client)}
    return {"registrations": regs, "channels": chans}
