"""What a built FreeSWITCH command is (ApiCommand, SocketCommand) and the argument whitelists
every builder uses (app/esl/commands.py, app/esl/supervisor_commands.py).

Why whitelists and never escaping (facts §3.7): a blank line ends an event-socket packet and
starts a new command, a single LF turns the rest into packet headers, NUL truncates, the API
layer splits on spaces and quotes, dial strings interpret `{} [] , |`, `&app(arg)` ends at the
first `)`, and every application argument is `${}`-expanded (`${system(...)}` runs a shell).
So each value must match a narrow pattern (app/names.py, the cause table, fixed variable
names), and the finished string is checked once more for CR, LF and NUL before it exists.
"""
from __future__ import annotations

import re

from app.names import is_domain, is_extension, is_uuid

# python-ESL formats `events()`/`filter()` into a 1024-byte buffer (facts §3.8); we send our
# own packets, but keep each subscription packet, blank line included, inside that budget.
EVENT_PACKET_MAX = 1024
API_COMMAND_MAX = 1024

_TOKEN_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")


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


def uuid_arg(name: str, value) -> str:
    """`value` if it is a FreeSWITCH uuid, else InvalidArgument naming `name`."""
    if not is_uuid(value):
        raise InvalidArgument(name, "must be a lowercase FreeSWITCH uuid", value)
    return value


def extension_arg(name: str, value) -> str:
    """`value` if it is an extension name, else InvalidArgument naming `name`."""
    if not is_extension(value):
        raise InvalidArgument(name, "must be an extension name (A-Z a-z 0-9 _ . + -, max 64)", value)
    return value


def domain_arg(name: str, value) -> str:
    """`value` if it is a domain (host name or IPv4 address), else InvalidArgument."""
    if not is_domain(value):
        raise InvalidArgument(name, "must be a host name or IPv4 address", value)
    return value


def bool_arg(name: str, value) -> str:
    """`true`/`false` from a bool or those words, else InvalidArgument."""
    if value is True or value == "true":
        return "true"
    if value is False or value == "false":
        return "false"
    raise InvalidArgument(name, "must be true or false", value)


def timeout_arg(name: str, value) -> str:
    """A whole number of seconds, 1-600, else InvalidArgument."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 600:
        raise InvalidArgument(name, "must be an integer number of seconds, 1-600", value)
    return str(value)


def token_arg(name: str, value) -> str:
    """1-64 of A-Z a-z 0-9 _ -, else InvalidArgument."""
    if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value):
        raise InvalidArgument(name, "must be 1-64 of A-Z a-z 0-9 _ -", value)
    return value
