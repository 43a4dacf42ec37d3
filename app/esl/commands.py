"""One builder per FreeSWITCH command fscti sends; every argument passes a whitelist first.

Why whitelists and never escaping (facts §3.7): a blank line ends an event-socket packet and
starts a new command, a single LF turns the rest into packet headers, NUL truncates, the API
layer splits on spaces and quotes, dial strings interpret `{} [] , |`, `&app(arg)` ends at the
first `)`, and every application argument is `${}`-expanded (`${system(...)}` runs a shell).
So each value must match a narrow pattern (app/names.py, the cause table, fixed variable
names), and the finished string is checked once more for CR, LF and NUL before it exists.

Builders return `ApiCommand` (the text after `api `/`bgapi `) or `SocketCommand` (a whole
event-socket packet such as `event json ...` or `sendevent ...`, without its final blank
line). `app.esl.connection` sends nothing else.
"""
from __future__ import annotations

import re

from app.names import is_domain, is_extension, is_safe_name, is_uuid

__all__ = [
    "ApiCommand", "SocketCommand", "InvalidArgument", "HANGUP_CAUSES", "ORIGINATE_VARIABLES",
    "LISTENER_EVENTS", "LISTENER_CUSTOM_EVENTS", "EAVESDROP_COMMANDS",
    "xml_flush_cache", "uuid_kill", "uuid_exists", "show_channels", "show_calls",
    "show_registrations", "sofia_reg_xmlstatus", "strmicroepoch", "global_getvar_core_uuid",
    "originate_eavesdrop", "originate_three_way", "eavesdrop_command", "event_subscriptions",
    "SUPERVISOR_APPS", "SHOW_WHAT", "originate_supervisor", "show", "status",
]

# python-ESL formats `events()`/`filter()` into a 1024-byte buffer (facts §3.8); we send our
# own packets, but keep each subscription packet, blank line included, inside that budget.
EVENT_PACKET_MAX = 1024
API_COMMAND_MAX = 1024


class InvalidArgument(ValueError):
    """An argument for a FreeSWITCH command failed its whitelist; `argument` names it."""

    def __init__(self, argument: str, reason: str, value=None):
        self.argument = argument
        self.reason = reason
        shown = "" if value is None else f" (got {_preview(value)})"
        super().__init__(f"{argument}: {reason}{shown}")


def _preview(value) -> str:
    text = repr(value)
    return text if len(text) <= 48 else text[:45] + "..."


class ApiCommand(str):
    """A validated API command line (what follows `api ` or `bgapi `)."""

    __slots__ = ()

    def __new__(cls, text: str):
        if any(c in text for c in "\r\n\x00") or not text or len(text) > API_COMMAND_MAX:
            raise InvalidArgument("command", "must be one short line")
        return super().__new__(cls, text)


class SocketCommand(str):
    """A validated event-socket packet (command line plus optional `Name: value` lines)."""

    __slots__ = ()

    def __new__(cls, text: str):
        # Single LFs separate header lines; a blank line, a CR or a NUL never appears.
        if not text or "\n\n" in text or "\r" in text or "\x00" in text or text.endswith("\n"):
            raise InvalidArgument("packet", "malformed event-socket packet")
        return super().__new__(cls, text)


# FreeSWITCH's cause table, src/switch_channel.c:57-140 (CAUSE_CHART), in its order.
# uuid_kill silently turns an unknown name into NORMAL_CLEARING, so we refuse unknown names.
HANGUP_CAUSES = (
    "NONE", "UNALLOCATED_NUMBER", "NO_ROUTE_TRANSIT_NET", "NO_ROUTE_DESTINATION",
    "CHANNEL_UNACCEPTABLE", "CALL_AWARDED_DELIVERED", "NORMAL_CLEARING", "USER_BUSY",
    "NO_USER_RESPONSE", "NO_ANSWER", "SUBSCRIBER_ABSENT", "CALL_REJECTED", "NUMBER_CHANGED",
    "REDIRECTION_TO_NEW_DESTINATION", "EXCHANGE_ROUTING_ERROR", "DESTINATION_OUT_OF_ORDER",
    "INVALID_NUMBER_FORMAT", "FACILITY_REJECTED", "RESPONSE_TO_STATUS_ENQUIRY",
    "NORMAL_UNSPECIFIED", "NORMAL_CIRCUIT_CONGESTION", "NETWORK_OUT_OF_ORDER",
    "NORMAL_TEMPORARY_FAILURE", "SWITCH_CONGESTION", "ACCESS_INFO_DISCARDED",
    "REQUESTED_CHAN_UNAVAIL", "PRE_EMPTED", "FACILITY_NOT_SUBSCRIBED", "OUTGOING_CALL_BARRED",
    "INCOMING_CALL_BARRED", "BEARERCAPABILITY_NOTAUTH", "BEARERCAPABILITY_NOTAVAIL",
    "SERVICE_UNAVAILABLE", "CHAN_NOT_IMPLEMENTED", "FACILITY_NOT_IMPLEMENTED",
    "SERVICE_NOT_IMPLEMENTED", "INVALID_CALL_REFERENCE", "INCOMPATIBLE_DESTINATION",
    "INVALID_MSG_UNSPECIFIED", "MANDATORY_IE_MISSING", "MESSAGE_TYPE_NONEXIST", "WRONG_MESSAGE",
    "IE_NONEXIST", "INVALID_IE_CONTENTS", "WRONG_CALL_STATE", "RECOVERY_ON_TIMER_EXPIRE",
    "MANDATORY_IE_LENGTH_ERROR", "PROTOCOL_ERROR", "INTERWORKING", "SUCCESS",
    "ORIGINATOR_CANCEL", "CRASH", "SYSTEM_SHUTDOWN", "LOSE_RACE", "MANAGER_REQUEST",
    "BLIND_TRANSFER", "ATTENDED_TRANSFER", "ALLOTTED_TIMEOUT", "USER_CHALLENGE",
    "MEDIA_TIMEOUT", "PICKED_OFF", "USER_NOT_REGISTERED", "PROGRESS_TIMEOUT",
)
_CAUSES = frozenset(HANGUP_CAUSES)

# The events the listener subscribes to (issue 3); CUSTOM subclasses go after `CUSTOM`.
LISTENER_EVENTS = (
    "CHANNEL_CREATE", "CHANNEL_PROGRESS", "CHANNEL_PROGRESS_MEDIA", "CHANNEL_ANSWER",
    "CHANNEL_BRIDGE", "CHANNEL_UNBRIDGE", "CHANNEL_HANGUP", "CHANNEL_HANGUP_COMPLETE",
    "CHANNEL_DESTROY", "BACKGROUND_JOB", "HEARTBEAT",
)
LISTENER_CUSTOM_EVENTS = ("sofia::register", "sofia::unregister", "sofia::expire")

# eavesdrop mode keys (facts §6.1): 1 peer hears, 2 target hears, 3 both, 0 listen, * leave.
EAVESDROP_COMMANDS = ("0", "1", "2", "3", "*")

_EVENT_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]{0,63}")
_SUBCLASS_RE = re.compile(r"[a-z0-9_]{1,32}::[a-z0-9_]{1,32}")
_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
_FLUSH_KEYS = ("id", "number-alias")
_EVENT_FORMATS = ("plain", "json")


def _bool_value(name: str, value) -> str:
    if value is True or value == "true":
        return "true"
    if value is False or value == "false":
        return "false"
    raise InvalidArgument(name, "must be true or false", value)


def _timeout_value(name: str, value) -> str:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 600:
        raise InvalidArgument(name, "must be an integer number of seconds, 1-600", value)
    return str(value)


def _uuid_value(name: str, value) -> str:
    return _uuid(name, value)


def _token_value(name: str, value) -> str:
    if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value):
        raise InvalidArgument(name, "must be 1-64 of A-Z a-z 0-9 _ -", value)
    return value


def _extension_value(name: str, value) -> str:
    return _extension(name, value)


# Channel variables an originate may carry, each with the only values it accepts. Values end
# up inside `{...}` of a dial string and are `${}`-expanded later: nothing free-form is allowed.
ORIGINATE_VARIABLES = {
    "eavesdrop_enable_dtmf": _bool_value,
    "eavesdrop_bridge_aleg": _bool_value,
    "eavesdrop_bridge_bleg": _bool_value,
    "eavesdrop_whisper_aleg": _bool_value,
    "eavesdrop_whisper_bleg": _bool_value,
    "originate_timeout": _timeout_value,
    "hangup_after_bridge": _bool_value,
    "origination_caller_id_number": _extension_value,
    "origination_caller_id_name": _extension_value,
    "fscti_action_id": _token_value,
    "fscti_role": _token_value,
    "fscti_target": _uuid_value,
}


def _uuid(name: str, value) -> str:
    if not is_uuid(value):
        raise InvalidArgument(name, "must be a lowercase FreeSWITCH uuid", value)
    return value


def _extension(name: str, value) -> str:
    if not is_extension(value):
        raise InvalidArgument(name, "must be an extension name (A-Z a-z 0-9 _ . + -, max 64)", value)
    return value


def _domain(name: str, value) -> str:
    if not is_domain(value):
        raise InvalidArgument(name, "must be a host name or IPv4 address", value)
    return value


# --- API commands (sent as `api <cmd>` or `bgapi <cmd>`) ------------------------------------

def xml_flush_cache(key: str, user: str, domain: str) -> ApiCommand:
    """`xml_flush_cache <key> <user> <domain>`: drop one cached directory user (facts §2.5)."""
    if key not in _FLUSH_KEYS:
        raise InvalidArgument("key", "must be 'id' or 'number-alias'", key)
    # The domain is mandatory: with fewer than three words FreeSWITCH flushes everything or
    # falls back to the global `domain` variable.
    return ApiCommand(f"xml_flush_cache {key} {_extension('user', user)} {_domain('domain', domain)}")


def uuid_kill(uuid: str, cause: str | None = None) -> ApiCommand:
    """`uuid_kill <uuid> [<CAUSE>]`; the cause must be a name from FreeSWITCH's cause table."""
    uuid = _uuid("uuid", uuid)
    if cause is None:
        return ApiCommand(f"uuid_kill {uuid}")
    # isascii first: str.upper() maps e.g. "ı" to "I", which would smuggle a look-alike in.
    if not isinstance(cause, str) or not cause.isascii() or cause.upper() not in _CAUSES:
        raise InvalidArgument("cause", "must be a FreeSWITCH hangup cause name", cause)
    return ApiCommand(f"uuid_kill {uuid} {cause.upper()}")


def uuid_exists(uuid: str) -> ApiCommand:
    """`uuid_exists <uuid>`: answers `true` or `false` (no newline)."""
    return ApiCommand(f"uuid_exists {_uuid('uuid', uuid)}")


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


def _originate(app: str, supervisor: str, domain: str, target_uuid: str,
               origination_uuid: str, variables: dict | None) -> ApiCommand:
    parts = [f"origination_uuid={_uuid('origination_uuid', origination_uuid)}"]
    for name, value in (variables or {}).items():
        check = ORIGINATE_VARIABLES.get(name)
        if check is None:
            raise InvalidArgument("variables", "variable not allowed", name)
        parts.append(f"{name}={check(name, value)}")
    dial = f"{{{','.join(parts)}}}user/{_extension('supervisor', supervisor)}@{_domain('domain', domain)}"
    return ApiCommand(f"originate {dial} &{app}({_uuid('target_uuid', target_uuid)})")


def originate_eavesdrop(supervisor: str, domain: str, target_uuid: str, origination_uuid: str,
                        variables: dict | None = None) -> ApiCommand:
    """`originate {origination_uuid=..,vars}user/<sup>@<domain> &eavesdrop(<target>)` (send with bgapi)."""
    return _originate("eavesdrop", supervisor, domain, target_uuid, origination_uuid, variables)


def originate_three_way(supervisor: str, domain: str, target_uuid: str, origination_uuid: str,
                        variables: dict | None = None) -> ApiCommand:
    """`originate {origination_uuid=..,vars}user/<sup>@<domain> &three_way(<target>)` (send with bgapi)."""
    return _originate("three_way", supervisor, domain, target_uuid, origination_uuid, variables)


# The applications a supervisor leg may run (facts §6.1, §6.2).
SUPERVISOR_APPS = ("eavesdrop", "three_way")


def originate_supervisor(supervisor: str, target_uuid: str, app: str = "eavesdrop",
                         domain: str | None = None, variables: dict | None = None,
                         inline_set: dict | None = None, inline: bool = False,
                         origination_uuid: str | None = None) -> ApiCommand:
    """mod_cti's originate forms (SPEC §5), rebuilt from validated parts (send with bgapi).

    `originate [{vars}]user/<sup>[@<domain>] &<app>(<target>)`, or with `inline=True`
    `originate [{vars}]user/<sup>[@<domain>] [set:<var>=<v>,...]<app>:<target> inline`.
    Without a domain FreeSWITCH uses its global `domain` variable, as mod_cti did.
    """
    if app not in SUPERVISOR_APPS:
        raise InvalidArgument("app", "must be eavesdrop or three_way", app)
    if inline_set and not inline:
        raise InvalidArgument("inline_set", "set: items need the inline form")
    parts = []
    if origination_uuid is not None:
        parts.append(f"origination_uuid={_uuid('origination_uuid', origination_uuid)}")
    parts += _variable_items("variables", variables)
    dial = f"user/{_extension('supervisor', supervisor)}"
    if domain is not None:
        dial += f"@{_domain('domain', domain)}"
    if parts:
        dial = f"{{{','.join(parts)}}}{dial}"
    target = _uuid("target_uuid", target_uuid)
    if not inline:
        return ApiCommand(f"originate {dial} &{app}({target})")
    items = [f"set:{item}" for item in _variable_items("inline_set", inline_set)]
    items.append(f"{app}:{target}")
    return ApiCommand(f"originate {dial} {','.join(items)} inline")


def _variable_items(argument: str, variables: dict | None) -> list[str]:
    out = []
    for name, value in (variables or {}).items():
        check = ORIGINATE_VARIABLES.get(name)
        if check is None:
            raise InvalidArgument(argument, "variable not allowed", name)
        out.append(f"{name}={check(name, value)}")
    return out


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

def eavesdrop_command(supervisor_uuid: str, keys: str) -> SocketCommand:
    """`sendevent CUSTOM` queued to the supervisor leg, switching eavesdrop mode (facts §6.1)."""
    if keys not in EAVESDROP_COMMANDS:
        raise InvalidArgument("keys", "must be one of 0 1 2 3 *", keys)
    return SocketCommand(
        "sendevent CUSTOM\n"
        "Event-Subclass: supervisor::cmd\n"
        f"Unique-ID: {_uuid('supervisor_uuid', supervisor_uuid)}\n"
        f"eavesdrop-command: {keys}"
    )


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
