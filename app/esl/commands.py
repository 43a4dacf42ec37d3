"""One builder per FreeSWITCH command fscti sends; every argument passes a whitelist first.

Here: the directory, state, listener and gateway-read commands (cache flush, `show`, sofia
status, clock, Core-UUID, event subscriptions). Call control (supervisor originates, the
eavesdrop `sendevent`, `uuid_kill`) is in app/esl/supervisor_commands.py; the command types
and the whitelists, and why there is no escaping, in app/esl/command_types.py.

Builders return `ApiCommand` (the text after `api `/`bgapi `) or `SocketCommand` (a whole
event-socket packet such as `event json ...` or `sendevent ...`, without its final blank
line). `app.esl.connection` sends nothing else.
"""
from __future__ import annotations

import re

from app.esl.command_types import (EVENT_PACKET_MAX, ApiCommand, InvalidArgument, SocketCommand,
                                   domain_arg, extension_arg, uuid_arg)
from app.names import is_safe_name

# The events the listener subscribes to (issue 3); CUSTOM subclasses go after `CUSTOM`.
LISTENER_EVENTS = (
    "CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY", "BACKGROUND_JOB", "HEARTBEAT",
)
LISTENER_CUSTOM_EVENTS = ("sofia::register", "sofia::unregister", "sofia::expire")

_EVENT_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_SUBCLASS_RE = re.compile(r"[a-z0-9_]{1,32}::[a-z0-9_]{1,32}")
_FLUSH_KEYS = ("id", "number-alias")
_EVENT_FORMATS = ("plain", "json")


# --- API commands (sent as `api <cmd>` or `bgapi <cmd>`) ------------------------------------

def xml_flush_cache(key: str, user: str, domain: str) -> ApiCommand:
    """`xml_flush_cache <key> <user> <domain>`: drop one cached directory user (facts §2.5)."""
    if key not in _FLUSH_KEYS:
        raise InvalidArgument("key", "must be 'id' or 'number-alias'", key)
    # The domain is mandatory: with fewer than three words FreeSWITCH flushes everything or
    # falls back to the global `domain` variable.
    return ApiCommand(f"xml_flush_cache {key} {extension_arg('user', user)} "
                      f"{domain_arg('domain', domain)}")


def uuid_exists(uuid: str) -> ApiCommand:
    """`uuid_exists <uuid>`: answers `true` or `false` (no newline)."""
    return ApiCommand(f"uuid_exists {uuid_arg('uuid', uuid)}")


def show_channels() -> ApiCommand:
    """`show channels as json`."""
    return ApiCommand("show channels as json")


def show_calls() -> ApiCommand:
    """`show calls as json`."""
    return ApiCommand("show calls as json")


def show_registrations() -> ApiCommand:
    """`show registrations as json` (the core table; may keep flushed rows, facts §5)."""
    return ApiCommand("show registrations as json")


def sofia_reg_xmlstatus(profile: str) -> ApiCommand:
    """`sofia xmlstatus profile <profile> reg`: the live sofia registration table."""
    if not is_safe_name(profile) or len(profile) > 64:
        raise InvalidArgument("profile", "must be a sofia profile name", profile)
    return ApiCommand(f"sofia xmlstatus profile {profile} reg")


def strmicroepoch() -> ApiCommand:
    """`strmicroepoch`: FreeSWITCH's clock in microseconds (the Event-Date-Timestamp clock)."""
    return ApiCommand("strmicroepoch")


def global_getvar_core_uuid() -> ApiCommand:
    """`global_getvar core_uuid`: the Core-UUID of the running FreeSWITCH (no newline)."""
    return ApiCommand("global_getvar core_uuid")


# `show <what>` tables the /cli gateway may read (facts §5); all read-only.
SHOW_WHAT = ("calls", "channels", "registrations", "bridged_calls", "detailed_calls",
             "detailed_bridged_calls", "interfaces", "modules", "codec", "application", "api",
             "endpoint")
_SHOW_FORMATS = ("json", "xml")


def show(what: str, count: bool = False, fmt: str | None = None) -> ApiCommand:
    """`show <what> [count] [as json|xml]` for a table of SHOW_WHAT."""
    if what not in SHOW_WHAT:
        raise InvalidArgument("what", f"must be one of {', '.join(SHOW_WHAT)}", what)
    if fmt is not None and fmt not in _SHOW_FORMATS:
        raise InvalidArgument("fmt", "must be json or xml", fmt)
    return ApiCommand(f"show {what}" + (" count" if count else "") + (f" as {fmt}" if fmt else ""))


def status() -> ApiCommand:
    """`status`: FreeSWITCH's uptime and session counters (plain text)."""
    return ApiCommand("status")


# --- whole event-socket packets ---------------------------------------------------------

def event_subscriptions(fmt: str = "json", events=LISTENER_EVENTS,
                        custom=LISTENER_CUSTOM_EVENTS) -> list[SocketCommand]:
    """`event <fmt> ...` packets subscribing to `events` and CUSTOM `custom`, each under 1024 bytes.

    FreeSWITCH adds repeated `event` commands to the subscription, so a long list is split.
    """
    if fmt not in _EVENT_FORMATS:
        raise InvalidArgument("fmt", "must be plain or json", fmt)
    for name in events:
        if not isinstance(name, str) or not _EVENT_NAME_RE.fullmatch(name) or name == "CUSTOM":
            raise InvalidArgument("events", "not an event name", name)
    for name in custom:
        if not isinstance(name, str) or not _SUBCLASS_RE.fullmatch(name):
            raise InvalidArgument("custom", "not an event subclass", name)
    if not events and not custom:
        raise InvalidArgument("events", "nothing to subscribe to")
    packets: list[SocketCommand] = []
    _pack(packets, f"event {fmt}", list(events))
    _pack(packets, f"event {fmt} CUSTOM", list(custom))
    return packets


def _pack(packets: list, prefix: str, words: list[str]) -> None:
    line = prefix
    for word in words:
        if len(line) + 1 + len(word) + 2 > EVENT_PACKET_MAX:
            packets.append(SocketCommand(line))
            line = prefix
        line += " " + word
    if line != prefix:
        packets.append(SocketCommand(line))
