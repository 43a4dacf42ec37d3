"""Decoded FreeSWITCH events: which ones matter to the state, and which of their headers.

The listener calls `slim_event` on every event before enqueueing it, so only what the state
needs crosses the broker. (First version: passes every event through unchanged; the
event-state work narrows it.)
"""


def slim_event(event: dict, settings) -> dict | None:
    """Return the part of `event` the state needs, or None to drop the event."""
    return event
