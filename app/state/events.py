"""Decoded FreeSWITCH events: which ones matter to the state, and which of their headers.

The listener calls `slim_event` on every event before enqueueing it, so only what the state
needs crosses the broker (at 10k events/s a full channel event is ~8 KB, a slim one ~0.8 KB).
A long-lived caller (the listener) builds `Slimmer(settings)` once instead: same result, the
header lists looked up once rather than per event.
"""
from __future__ import annotations

from typing import Any

import msgspec

REGISTRATION_SUBCLASSES = frozenset({"sofia::register", "sofia::unregister", "sofia::expire"})

# Channel events the state follows (the listener's subscription).
CHANNEL_EVENTS = frozenset({
    "CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY",
})

# Identity and ordering headers, on every event we keep.
IDENTITY_HEADERS = (
    "Event-Name", "Event-Subclass", "Core-UUID", "Event-Date-Timestamp", "Event-Sequence",
    "FreeSWITCH-Switchname", "_received",
)
# Plus the node's own identity (a job result or a heartbeat says which FreeSWITCH it is; a
# channel record never uses it, so channel events leave it out: less to send per event).
BASE_HEADERS = IDENTITY_HEADERS + ("FreeSWITCH-Hostname", "FreeSWITCH-IPv4", "FreeSWITCH-IPv6")

# What a channel record needs besides the configured `gui.call.fields` (facts §4.4, §4.5).
CHANNEL_HEADERS = (
    "Unique-ID", "Call-Direction", "Answer-State", "Channel-Name", "Hangup-Cause",
    "Caller-Caller-ID-Number", "Caller-Destination-Number", "Caller-Callee-ID-Number",
    "Caller-Channel-Created-Time", "Caller-Profile-Created-Time", "Caller-Channel-Answered-Time",
    "Caller-Channel-Progress-Time", "Caller-Channel-Progress-Media-Time",
    "Caller-Channel-Hangup-Time", "Other-Leg-Unique-ID", "Bridge-A-Unique-ID",
    "Bridge-B-Unique-ID", "variable_user_name", "variable_domain_name", "variable_dialed_user",
    "variable_dialed_domain", "variable_signal_bond",
)

JOB_HEADERS = ("Job-UUID", "Job-Command", "Job-Command-Arg", "_body")
HEARTBEAT_HEADERS = ("Uptime-msec", "Session-Count")

_cache: dict = {}


def channel_headers(settings) -> tuple:
    """Every header a channel event keeps: identity + channel + `gui.call.fields` + extra variables."""
    fields = tuple(settings.gui["call"].get("fields") or ())
    extra = tuple((getattr(settings, "state", None) or {}).get("channel_variables") or ())
    key = (fields, extra)
    found = _cache.get(key)
    if found is None:
        found = tuple(dict.fromkeys(IDENTITY_HEADERS + CHANNEL_HEADERS + fields + extra))
        if len(_cache) > 32:
            _cache.clear()
        _cache[key] = found
    return found


def _pick(event: dict, names) -> dict:
    return {k: event[k] for k in names if k in event}


class Slimmer:
    """`slim_event` with the settings' header lists looked up once: `Slimmer(settings)(event)`;
    `Slimmer(settings).decode(body)` goes from the JSON body straight to the slim event."""

    JOB = BASE_HEADERS + JOB_HEADERS
    HEARTBEAT = BASE_HEADERS + HEARTBEAT_HEADERS

    def __init__(self, settings):
        self.channel = channel_headers(settings)
        # A channel event body (~200 headers) is decoded into the few headers kept, skipping
        # the others without building them (msgspec, a struct of the channel headers): much
        # cheaper than decoding it whole and picking from the dict (docs/benchmarks.md).
        fields = [("event_name", str, msgspec.field(name="Event-Name"))]
        fields += [(f"h{i}", Any, msgspec.field(default=msgspec.UNSET, name=name))
                   for i, name in enumerate(self.channel) if name not in ("Event-Name", "_received")]
        self._channel_decoder = msgspec.json.Decoder(
            msgspec.defstruct("ChannelEvent", fields, omit_defaults=True))

    def decode(self, body: bytes) -> dict | None:
        """The slim event of a JSON event body, or None to drop it; ValueError if it is not
        a JSON object with a string Event-Name (or not UTF-8)."""
        head = self._channel_decoder.decode(body)
        if head.event_name in CHANNEL_EVENTS:
            return msgspec.to_builtins(head)
        return self(msgspec.json.decode(body))

    def __call__(self, event: dict) -> dict | None:
        """Return the part of `event` the state needs, or None to drop the event."""
        name = event.get("Event-Name")
        if name in CHANNEL_EVENTS:
            return {k: event[k] for k in self.channel if k in event}
        if name == "CUSTOM":
            # `gui.registration.hash` stores every header of the registration event.
            return dict(event) if event.get("Event-Subclass") in REGISTRATION_SUBCLASSES else None
        if name == "BACKGROUND_JOB":
            return _pick(event, self.JOB)
        if name == "HEARTBEAT":
            return _pick(event, self.HEARTBEAT)
        return None


def slim_event(event: dict, settings) -> dict | None:
    """Return the part of `event` the state needs, or None to drop the event."""
    return Slimmer(settings)(event)
