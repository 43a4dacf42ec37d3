"""Slim events → merge operations for the state scripts (pure: no Redis, no clock).

Each event becomes at most two small dicts ("ops") that `app/state/lua/*.lua` merges into the
canonical records. Everything that needs Python (key names, arithmetic on 16-digit
microsecond times, validation) happens here, so the Lua side only compares and copies.

Ordering: an op carries a *stamp*, Event-Date-Timestamp and Event-Sequence as one fixed-width
digit string, so "newer" is a plain string comparison (facts §4.2: de-duplicate with
(Core-UUID, Event-Sequence); order by the channel times and creation stamps).
"""
from __future__ import annotations

import json
import logging

import msgspec

from app.names import is_domain, is_extension, is_uuid
from app.state import keys
from app.state.events import CHANNEL_EVENTS, REGISTRATION_SUBCLASSES

log = logging.getLogger(__name__)

TS_WIDTH, SEQ_WIDTH = 16, 20

LABELS = {
    "CHANNEL_PROGRESS": "progress", "CHANNEL_PROGRESS_MEDIA": "progress",
    "CHANNEL_ANSWER": "answer", "CHANNEL_BRIDGE": "bridge", "CHANNEL_UNBRIDGE": "unbridge",
    "CHANNEL_HANGUP": "hangup", "CHANNEL_HANGUP_COMPLETE": "hangup", "CHANNEL_DESTROY": "hangup",
}
TERMINAL = frozenset({"CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE", "CHANNEL_DESTROY"})

# Headers a channel record keeps last-writer-wins (besides the configured fields).
CORE_FIELDS = (
    "Call-Direction", "Answer-State", "Channel-Name", "Hangup-Cause", "Caller-Caller-ID-Number",
    "Caller-Destination-Number", "Caller-Callee-ID-Number", "Other-Leg-Unique-ID",
    "variable_signal_bond", "FreeSWITCH-Switchname",
)
# Channel times kept as a maximum (they only move forward; "0" = not yet).
CORE_TIMES = (
    "Caller-Channel-Created-Time", "Caller-Profile-Created-Time", "Caller-Channel-Answered-Time",
    "Caller-Channel-Progress-Time", "Caller-Channel-Progress-Media-Time",
    "Caller-Channel-Hangup-Time",
)


def reg_json(fields: dict) -> str:
    """A binding's `register` object as JSON text, SPEC's fields first (the script splices it)."""
    return msgspec.json.encode(fields).decode()


class Malformed(ValueError):
    """An event the state cannot use (missing or invalid ordering/identity headers)."""


def stamp(ts, seq=0) -> str:
    """Fixed-width ordering key of (Event-Date-Timestamp, Event-Sequence)."""
    ts_s, seq_s = str(ts), str(seq)
    if not ts_s.isdigit() or len(ts_s) > TS_WIDTH or not seq_s.isdigit() or len(seq_s) > SEQ_WIDTH:
        raise Malformed(f"bad Event-Date-Timestamp/Event-Sequence {ts!r}/{seq!r}")
    return ts_s.zfill(TS_WIDTH) + seq_s.zfill(SEQ_WIDTH)


def stamp_ts(st: str) -> int:
    """The microsecond time inside a stamp."""
    return int(st[:TS_WIDTH])


def owner(domain: str, ext: str) -> dict:
    """The `o` of an op: the extension it is about (the script derives its key names)."""
    return {"d": domain, "x": ext}


class Preparer:
    """Turns one node's slim events into ops, with the settings looked up once."""

    def __init__(self, settings, node_name: str):
        self.node = node_name
        self.settings = settings
        state = settings.state
        call = settings.gui["call"]
        fields = list(dict.fromkeys(call.get("fields") or ()))
        extra = list(state.get("channel_variables") or ())
        wanted = list(dict.fromkeys(list(CORE_FIELDS) + list(CORE_TIMES) + fields + extra))
        self.time_fields = tuple(f for f in wanted if f.endswith("-Time"))
        self.value_fields = tuple(f for f in wanted if not f.endswith("-Time"))
        self.margin_us = int(float(state["sip_expires_late_margin"]) * 1_000_000)
        self.multi = bool(state["multiple_registrations"])
        self.job_ttl = int(state["job_result_ttl"])
        cfg = settings.node(node_name) if hasattr(settings, "node") else None
        self.cluster_ip = cfg.host if cfg else None
        self.cluster_port = str(cfg.port) if cfg else ""
        self._owners: dict = {}

    # --- dispatch -------------------------------------------------------------------------
    def ops(self, event: dict) -> list[dict]:
        """The ops for one event ([] when the state does not use it); raises Malformed."""
        name = event.get("Event-Name")
        if name in CHANNEL_EVENTS:
            return self.channel_ops(event, name)
        if name == "CUSTOM":
            sub = event.get("Event-Subclass")
            if sub in REGISTRATION_SUBCLASSES:
                return [self.registration_op(event, sub)]
            return []
        if name == "BACKGROUND_JOB":
            return [self.job_op(event)]
        if name == "HEARTBEAT":
            return [{"k": "n", "core": self._core(event), "st": self._stamp(event),
                     "ts": event["Event-Date-Timestamp"]}]
        return []

    @staticmethod
    def _stamp(event: dict) -> str:
        return stamp(event.get("Event-Date-Timestamp", ""), event.get("Event-Sequence", ""))

    @staticmethod
    def _core(event: dict) -> str:
        core = event.get("Core-UUID")
        if not isinstance(core, str) or not core:
            raise Malformed("no Core-UUID")
        return core

    # --- channels -------------------------------------------------------------------------
    def channel_owner(self, event: dict) -> dict | None:
        """The extension a leg belongs to (facts §4.5), or None for a trunk/unknown leg.

        Caller leg (inbound): the digest-authenticated user, `variable_user_name`@
        `variable_domain_name`. Callee leg reached through `user/<ext>` (outbound):
        `variable_dialed_user`@`variable_dialed_domain`. The caller leg also gets
        `dialed_user` once it bridges, so the direction decides which pair counts.
        """
        direction = event.get("Call-Direction")
        if direction == "inbound":
            ext, dom = event.get("variable_user_name"), event.get("variable_domain_name")
        elif direction == "outbound":
            ext, dom = event.get("variable_dialed_user"), event.get("variable_dialed_domain")
        else:
            return None
        key = (dom, ext)
        found = self._owners.get(key)
        if found is None:
            if not is_extension(ext) or not is_domain(dom):
                return None
            found = self._owners[key] = owner(dom, ext)
        return found

    def channel_ops(self, event: dict, name: str) -> list[dict]:
        uuid = event.get("Unique-ID")
        if not is_uuid(uuid):
            raise Malformed(f"{name}: bad Unique-ID {uuid!r}")
        st, core, ts = self._stamp(event), self._core(event), event["Event-Date-Timestamp"]
        if name == "CHANNEL_CREATE":
            label = "callout" if event.get("Call-Direction") == "inbound" else "callin"
        else:
            label = LABELS[name]
        op = {"k": "c", "u": uuid, "st": st, "ts": ts, "core": core,
              "lb": label, "term": name in TERMINAL,
              "f": {f: event[f] for f in self.value_fields
                    if f in event and isinstance(event[f], str)},
              # "0" (not yet) is what a time that never came reads as: not sent
              "t": {f: v for f in self.time_fields
                    if (v := event.get(f)) and v != "0" and isinstance(v, str) and v.isdigit()}}
        owner = self.channel_owner(event)
        if owner is not None:        # (absent, never null: JSON null is truthy in Lua)
            op["o"] = owner
        # `own`: the channel's own event. Without an owner it never creates a record (a trunk
        # leg is ignored); the op a bridge sends to the B leg (below) does, since the B leg's
        # own identifying events may come later.
        op["own"] = True
        ops = [op]
        if name in ("CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE"):
            # Fired on the A side only (facts §4.4): tell the B leg too.
            a, b = event.get("Bridge-A-Unique-ID"), event.get("Bridge-B-Unique-ID")
            peer = b if a == uuid else a
            if is_uuid(peer) and peer != uuid:
                ops.append({"k": "c", "u": peer, "st": st, "ts": ts,
                            "core": core, "lb": label, "term": False, "own": False,
                            "f": {"Other-Leg-Unique-ID": uuid}, "t": {}})
        return ops

    # --- registrations --------------------------------------------------------------------
    def registration_op(self, event: dict, sub: str) -> dict:
        st, ts = self._stamp(event), event["Event-Date-Timestamp"]
        if sub == "sofia::expire":
            ext, dom = event.get("user") or event.get("username"), event.get("host")
        else:
            ext, dom = event.get("from-user"), event.get("from-host")
        if not is_extension(ext) or not is_domain(dom):
            raise Malformed(f"{sub}: bad user/host {ext!r}@{dom!r}")
        profile, call_id = event.get("profile-name") or "", event.get("call-id") or ""
        if not call_id and sub != "sofia::unregister":
            raise Malformed(f"{sub}: no call-id")
        np = f"{self.node}\t{profile}"
        body = {k: v for k, v in event.items() if k != "_received"}
        # `o` names the user as registered; the script keys the state by the extension that
        # name means (an alias resolves to its extension) and keeps the name as `as`
        op = {"k": "r", "o": owner(dom, ext), "as": ext, "np": np, "bid": f"{np}\t{call_id}",
              "cid": call_id, "node": self.node, "st": st, "ts": ts,
              "core": self._core(event), "contact": event.get("contact") or "",
              "multi": self.multi,
              "ev": msgspec.json.encode(body).decode()}
        if sub == "sofia::register":
            try:
                expires = int(event.get("expires") or 0)
            except ValueError as exc:
                raise Malformed(f"sofia::register: bad expires {event.get('expires')!r}") from exc
            op["typ"] = "reg"
            # FreeSWITCH keeps the row until register time + granted + late margin (§4.3),
            # in whole seconds (the `expires` column of its tables).
            op["exp"] = str((int(ts) // 1_000_000 + expires) * 1_000_000 + self.margin_us)
            op["reg"] = reg_json(self.register_fields(event, ext))
            op["sw"] = event.get("FreeSWITCH-Switchname", "")
        else:
            op["typ"] = "unreg" if sub == "sofia::unregister" else "exp"
        return op

    def register_fields(self, event: dict, user: str) -> dict:
        """The `register` object of `cti_userinfo@<domain>` (SPEC §2) plus binding details;
        `registered-as` is the user the phone registered as (the extension or its alias)."""
        g = event.get
        return {
            "Hostname": g("FreeSWITCH-Hostname", ""), "IPv4": g("FreeSWITCH-IPv4", ""),
            "IPv6": g("FreeSWITCH-IPv6", ""),
            "cluster_ip": self.cluster_ip or g("FreeSWITCH-IPv4", ""),
            "cluster_port": self.cluster_port, "network-ip": g("network-ip", ""),
            "user-agent": g("user-agent", ""), "status": g("status", ""),
            "Timestamp": g("Event-Date-Timestamp", ""),
            "FreeSWITCH-Switchname": g("FreeSWITCH-Switchname", ""), "call-id": g("call-id", ""),
            "contact": g("contact", ""), "expires": g("expires", ""),
            "network-port": g("network-port", ""), "node": self.node,
            "profile-name": g("profile-name", ""), "registered-as": user,
        }

    # --- jobs -----------------------------------------------------------------------------
    def job_op(self, event: dict) -> dict:
        job = event.get("Job-UUID")
        if not is_uuid(job):
            raise Malformed(f"BACKGROUND_JOB: bad Job-UUID {job!r}")
        value = {"node": self.node, "job_uuid": job, "command": event.get("Job-Command", ""),
                 "arg": event.get("Job-Command-Arg", ""), "body": event.get("_body", ""),
                 "ts": event.get("Event-Date-Timestamp", "")}
        return {"k": "j", "key": keys.job_result(job), "seen": keys.job_seen(job),
                "ttl": self.job_ttl, "v": json.dumps(value, ensure_ascii=False)}


def prepare(settings, node_name: str, events: list) -> tuple[list[dict], int]:
    """(ops, number of malformed events skipped) for a batch, in arrival order."""
    p = Preparer(settings, node_name)
    out: list[dict] = []
    bad = 0
    for event in events:
        if not isinstance(event, dict):
            bad += 1
            log.warning("node %s: skipped an event that is not an object: %.80r", node_name, event)
            continue
        try:
            out.extend(p.ops(event))
        except (Malformed, KeyError, TypeError, ValueError) as exc:
            bad += 1
            log.warning("node %s: skipped malformed %s event: %s", node_name,
                        event.get("Event-Name"), exc)
    return out, bad


def clock_sample(events: list) -> int | None:
    """FreeSWITCH clock minus ours (µs), from the freshest event: max(created - received)."""
    best = None
    for event in events:
        if not isinstance(event, dict):
            continue
        received, ts = event.get("_received"), event.get("Event-Date-Timestamp")
        if isinstance(received, (int, float)) and isinstance(ts, str) and ts.isdigit():
            sample = int(ts) - int(received * 1_000_000)
            if best is None or sample > best:
                best = sample
    return best
