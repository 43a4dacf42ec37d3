"""What the listener process is expected to forward, for the tests that run it.

FAST are listener settings for tests (quick reconnects and status writes, a short ESL timeout);
subscribed(events) is the part of a capture the listener's subscription receives and passes on;
ident(event) identifies one event in the broker's order.
"""
from __future__ import annotations

from app.config import Settings
from app.state.events import slim_event

FAST = {
    "FSCTI_LISTENER_BACKOFF_INITIAL": "0.05",
    "FSCTI_LISTENER_BACKOFF_MAX": "0.3",
    "FSCTI_LISTENER_STATUS_INTERVAL": "0.3",
    "FSCTI_ESL_TIMEOUT": "1",
}
SUBSCRIBED = {"CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
              "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
              "CHANNEL_DESTROY", "BACKGROUND_JOB", "HEARTBEAT"}
REGISTRATION = {"sofia::register", "sofia::unregister", "sofia::expire"}


def subscribed(events):
    """What FreeSWITCH sends for the listener's subscription, and what slim_event keeps of it."""
    settings = Settings.load(env={})
    out = []
    for e in events:
        if e["Event-Name"] in SUBSCRIBED or (e["Event-Name"] == "CUSTOM"
                                            and e.get("Event-Subclass") in REGISTRATION):
            if slim_event(dict(e), settings) is not None:
                out.append(e)
    return out


def ident(e):
    """(Core-UUID, Event-Sequence, Event-Name, Unique-ID): one event, for comparing orders."""
    return e["Core-UUID"], e["Event-Sequence"], e["Event-Name"], e.get("Unique-ID")
